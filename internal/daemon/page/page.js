// The status page: reads /status every few seconds and draws it. Every value goes in with textContent, never
// as HTML: hostnames, answers and errors come from outside.
"use strict";

// ?every=N asks every N seconds (at least 1) instead of every 3.
const every = Math.max(1, Number(new URLSearchParams(location.search).get("every")) || 3) * 1000;
const $ = (id) => document.getElementById(id);
let lastOK = 0;
let lostSince = 0;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function small(text) { return el("small", "", text); }

function tag(text, level) { return el("span", "tag " + level, text); }

// cell makes a table cell whose content sits in one box, labelled for the phone layout.
function cell(label, ...parts) {
  const td = el("td");
  td.dataset.label = label;
  const box = el("div");
  for (const p of parts) {
    if (p === undefined || p === null || p === "") continue;
    box.append(typeof p === "string" || typeof p === "number" ? document.createTextNode(String(p)) : p);
  }
  td.append(box);
  return td;
}

function when(t) {
  if (!t || t.startsWith("0001-")) return "";
  const d = new Date(t);
  if (isNaN(d)) return "";
  const now = new Date();
  const same = d.toDateString() === now.toDateString();
  return same ? d.toLocaleTimeString() : d.toLocaleString();
}

function ago(t) {
  if (!t || t.startsWith("0001-")) return "";
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  if (isNaN(s)) return "";
  const fut = s < 0;
  const a = Math.abs(s);
  const txt = a < 60 ? a + " s" : a < 3600 ? Math.round(a / 60) + " min" : a < 172800 ? Math.round(a / 3600) + " h" : Math.round(a / 86400) + " days";
  return fut ? "in " + txt : txt + " ago";
}

function bytes(n) {
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function dlRow(dl, term, ...parts) {
  const dd = el("dd");
  for (const p of parts) {
    if (p === undefined || p === null || p === "") continue;
    dd.append(typeof p === "string" ? document.createTextNode(p) : p);
  }
  dl.append(el("dt", "", term), dd);
}

function classLevel(v) {
  if (v.class === "cgnat" || v.class === "ds-lite") return "red";
  if (v.class === "unknown" || v.upstream === "unknown") return "amber";
  return "green";
}

function renderVerdict(s) {
  const v = s.verdict || { level: "amber", reason: "" };
  const box = $("verdict");
  box.className = "verdict " + v.level;
  const word = { green: "All good", amber: "Needs a look", red: "Not working" }[v.level] || v.level;
  box.replaceChildren(el("strong", "", word), el("span", "", v.reason));
}

function renderAddresses(s) {
  const dl = $("addr-list");
  dl.replaceChildren();
  const wan = (s.wan_addresses || []).join(", ") || "none";
  dlRow(dl, "WAN (" + s.wan_interface + ")", el("span", "mono", wan), s.wan_exists ? "" : tag("interface missing", "red"));
  if (s.wan_ipv6_addresses && s.wan_ipv6_addresses.length) dlRow(dl, "WAN IPv6", el("span", "mono", s.wan_ipv6_addresses.join(", ")));
  if (s.public_address || s.public_address_error) {
    dlRow(dl, "Public address", el("span", "mono", s.public_address || "unknown"),
      s.public_address_source ? small("learnt from " + s.public_address_source) : "",
      s.public_address_error ? small(s.public_address_error) : "");
  }
  if (s.double_nat) dlRow(dl, "Double NAT", "yes (wan.double_nat: " + s.double_nat_mode + ")");
  for (const v of s.reachability || []) {
    dlRow(dl, "Reachability " + (v.family === "ipv6" ? "IPv6" : "IPv4"), tag(v.class + (v.upstream ? " (" + v.upstream + ")" : ""), classLevel(v)), " ",
      v.reason, v.advice ? small("Next step: " + v.advice) : "");
  }
  const u = s.upstream;
  if (u && u.mode && u.mode !== "off") {
    const mapped = (u.mappings || []).filter((m) => m.state === "mapped").length;
    dlRow(dl, "Upstream mapping", u.mode + (u.protocol ? " via " + u.protocol : "") + (u.gateway ? " at " + u.gateway : ""),
      small(mapped + " of " + (u.mappings || []).length + " ports mapped" + (u.external_address ? ", external " + u.external_address : "")),
      u.error ? small(u.error) : "");
  }
  if (s.probe) {
    dlRow(dl, "Last probe", when(s.probe.time) + (s.probe.address ? " to " + s.probe.address : ""), s.probe.error ? small(s.probe.error) : "");
  }
}

function renderForwards(s) {
  const probed = {};
  for (const r of (s.probe && s.probe.results) || []) probed[r.forward] = r;
  fill(document.querySelector("#forwards tbody"), (s.forwards || []).map((f) => {
    const tr = el("tr");
    const p = probed[f.name];
    const reach = p ? tag(p.result === "open" ? "answers" : p.result, p.result === "open" ? "green" : "red") : el("span", "muted", s.probe ? "not probed (UDP)" : "no probe configured");
    const allow = f.allow ? (f.allow.length ? "allow: " + f.allow.join(", ") : "LAN only") : "";
    tr.append(
      cell("Name", el("strong", "", f.name)),
      cell("Port", f.protocol + " " + f.port),
      cell("Target", el("span", "mono", f.to), f.ipv6 && !f.ipv6.startsWith("off") ? small("IPv6 " + f.ipv6) : ""),
      cell("From the internet", reach, p && p.took_ms ? small(p.took_ms + " ms") : ""),
      cell("Traffic", f.packets + " packets", small(bytes(f.bytes))),
      cell("Dropped", (f.dropped_allow + f.dropped_limit) + "", small([allow, f.limit ? "limit " + f.limit : "", "allowlist " + f.dropped_allow + ", limit " + f.dropped_limit].filter(Boolean).join("; "))),
    );
    return tr;
  }));
}

function renderDDNS(s) {
  const hosts = s.ddns || [];
  $("ddns-section").hidden = hosts.length === 0;
  fill(document.querySelector("#ddns tbody"), hosts.map((h) => {
    const tr = el("tr");
    let next = el("span", "muted", "on the next change");
    if (h.disabled) next = tag("disabled", "red");
    else if (h.held) next = tag("held", "red");
    else if (h.withheld) next = tag("withheld", "amber");
    else if (h.next_retry) next = el("span", "", "retry " + ago(h.next_retry));
    const why = h.disabled ? h.disabled : h.held ? h.reason : h.withheld || (h.next_retry ? h.reason || h.last_error : "");
    const hist = el("ol", "history");
    for (const m of (h.history || []).slice().reverse().slice(0, 5)) {
      const li = el("li");
      li.append(el("span", "mono", m.address), " ", small(when(m.time)));
      hist.append(li);
    }
    tr.append(
      cell("Hostname", el("strong", "", h.hostname), small(h.provider + (h.family === "ipv6" ? ", AAAA" : ""))),
      cell("Address held", el("span", "mono", h.last_address || "none yet"), h.last_sent ? small("sent " + ago(h.last_sent)) : ""),
      cell("Last answer", h.answer || (h.last_error ? "" : "—"), h.last_error ? small(h.last_error) : "", h.warning ? small(h.warning) : ""),
      cell("Next", next, why ? small(why) : ""),
      cell("History", hist.childElementCount ? hist : el("span", "muted", "—")),
    );
    return tr;
  }));
}

function renderNotify(s) {
  const ts = s.notify || [];
  $("notify-section").hidden = ts.length === 0;
  fill(document.querySelector("#notify tbody"), ts.map((t) => {
    const tr = el("tr");
    tr.append(cell("Target", el("span", "mono", t.target)), cell("Format", t.format), cell("Sent", t.sent + "", t.last_sent ? small(ago(t.last_sent)) : ""),
      cell("Failed", t.failed + "", t.dropped ? small(t.dropped + " dropped") : ""), cell("Last error", t.last_error || "—"));
    return tr;
  }));
}

function renderEvents(s) {
  const evs = (s.events || []).slice(-20).reverse();
  $("events").replaceChildren(...evs.map((e) => {
    const li = el("li");
    const t = el("time", "", when(e.time));
    t.dateTime = e.time;
    li.append(t, document.createTextNode(e.message));
    return li;
  }));
}

function render(s) {
  const name = s.hostname ? "hairpin on " + s.hostname : "hairpin";
  document.title = (s.verdict ? { green: "✓", amber: "!", red: "✗" }[s.verdict.level] + " " : "") + name;
  $("title").textContent = name;
  $("version").textContent = s.version || "";
  renderVerdict(s);
  renderAddresses(s);
  renderForwards(s);
  renderDDNS(s);
  renderNotify(s);
  renderEvents(s);
  $("actions").hidden = !s.control;
  $("footer").textContent = "Backend " + s.backend + " · started " + when(s.started) + (s.last_apply ? " · rules applied " + ago(s.last_apply) + (s.last_apply_took ? " in " + s.last_apply_took : "") : "") +
    " · updated " + new Date().toLocaleTimeString();
}

function lost(err) {
  if (!lostSince) lostSince = Date.now();
  document.body.classList.add("stale");
  const p = $("lost");
  p.hidden = false;
  p.textContent = "Lost the daemon" + (lastOK ? " (last answer at " + new Date(lastOK).toLocaleTimeString() + ")" : "") + ": " + err + ". Trying again every " + every / 1000 + " s.";
}

async function refresh() {
  try {
    const r = await fetch("status", { cache: "no-store" });
    if (!r.ok) throw new Error("it answered " + r.status);
    const s = await r.json();
    lastOK = Date.now();
    lostSince = 0;
    $("lost").hidden = true;
    document.body.classList.remove("stale");
    render(s);
  } catch (e) {
    lost(e instanceof TypeError ? "no answer" : e.message);
  }
}

async function act(btn) {
  const out = $("action-result");
  const token = $("token").value.trim();
  sessionStorage.setItem("hairpin-token", token);
  btn.disabled = true;
  out.textContent = btn.textContent + "…";
  try {
    const r = await fetch(btn.dataset.action, { method: "POST", headers: token ? { Authorization: "Bearer " + token } : {} });
    const text = (await r.text()).trim();
    out.textContent = btn.textContent + ": " + (r.ok ? text || "done" : "refused (" + r.status + "): " + text);
    refresh();
  } catch (e) {
    out.textContent = btn.textContent + ": no answer";
  } finally {
    btn.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("token").value = sessionStorage.getItem("hairpin-token") || "";
  for (const b of document.querySelectorAll("button[data-action]")) b.addEventListener("click", () => act(b));
  refresh();
  setInterval(refresh, every);
});
