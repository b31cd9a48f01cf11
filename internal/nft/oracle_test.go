package nft

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/backend"
)

// The apply's old path, the nft binary reading the script: kept as the tests' oracle (TestCompileMatchesNft,
// TestInlineElementsInKernel) and for the transforms that made it fast, which TestDeclareDNAT still holds
// declareDNAT to.

// runScript pipes script to `nft -f -`, which applies it as one kernel transaction.
func runScript(ctx context.Context, nftPath, script string) error {
	cmd := exec.CommandContext(ctx, nftPath, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return errors.New(firstLines(msg, 3))
	}
	return nil
}

// mergeElements turns runs of "add element FAMILY TABLE SET { X }" lines into "add element ... SET { X, Y }".
func mergeElements(script string) string {
	var out strings.Builder
	out.Grow(len(script))
	prefix := ""
	for _, line := range strings.Split(strings.TrimRight(script, "\n"), "\n") {
		p, elem, ok := splitElementLine(line)
		if ok && p == prefix {
			out.WriteString(", ")
			out.WriteString(elem)
			continue
		}
		if prefix != "" {
			out.WriteString(" }\n")
			prefix = ""
		}
		if ok {
			prefix = p
			out.WriteString(p)
			out.WriteString(" { ")
			out.WriteString(elem)
			continue
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	if prefix != "" {
		out.WriteString(" }\n")
	}
	return out.String()
}

// inlineElements moves each element statement of a merged script into a declaration of its set: after
// "add set ip hairpin S { type T ; }", the statement "add element ip hairpin S { X, Y }" becomes
// "add set ip hairpin S { type T ; elements = { X, Y } ; }", in the same place. nft (1.0.6) reads the elements
// of every set in the ruleset into its cache before any "add element" or "delete element" command, to check
// intervals; a declaration's elements are not such a command. With an allow list of 100,000 prefixes in the
// table that read was nearly all of an unchanged re-apply (README.md, "Applying"). A statement whose set is
// not declared earlier in the script is left as it is.
func inlineElements(script string) string {
	var out strings.Builder
	out.Grow(len(script) + 1024)
	decls := map[string]string{} // "ip hairpin S" -> "add set ip hairpin S { type T ;"
	for _, line := range strings.SplitAfter(script, "\n") {
		body := strings.TrimSuffix(line, "\n")
		if kind, rest, ok := declLine(body); ok {
			if i := strings.Index(rest, " { "); i > 0 && strings.HasSuffix(body, " }") && !strings.Contains(rest, "elements") {
				decls[rest[:i]] = "add " + kind + " " + strings.TrimSuffix(rest, " }")
			}
		}
		if p, elem, ok := splitElementLine(body); ok {
			if d, found := decls[strings.TrimPrefix(p, "add element ")]; found {
				out.WriteString(d)
				out.WriteString(" elements = { ")
				out.WriteString(elem)
				out.WriteString(" } ; }\n")
				continue
			}
		}
		out.WriteString(line)
	}
	return out.String()
}

// declLine splits "add set REST" or "add map REST".
func declLine(line string) (kind, rest string, ok bool) {
	for _, kind := range []string{"set", "map"} {
		if r, found := strings.CutPrefix(line, "add "+kind+" "); found {
			return kind, r, true
		}
	}
	return "", "", false
}

func splitElementLine(line string) (prefix, elem string, ok bool) {
	if !strings.HasPrefix(line, "add element ") || !strings.HasSuffix(line, " }") {
		return "", "", false
	}
	i := strings.Index(line, " { ")
	// Elements with comments carry their own braces-free text; anything else odd is left alone.
	if i < 0 || strings.Contains(line[i+3:len(line)-2], "{") {
		return "", "", false
	}
	return line[:i], line[i+3 : len(line)-2], true
}

// splitCountDeletes takes the "delete element ip hairpin count_PROTO { P, ... }" statements out of a merged
// script and adds their ports to stale, by protocol.
func splitCountDeletes(script string, stale map[string][]uint16) (string, map[string][]uint16) {
	prefix := "delete element ip " + Table + " " + countSetBase
	if !strings.Contains(script, prefix) {
		return script, stale
	}
	var out strings.Builder
	for _, line := range strings.SplitAfter(script, "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		proto, elems, ok2 := strings.Cut(rest, " { ")
		if !ok || !ok2 || !slices.Contains(protocols, proto) {
			out.WriteString(line)
			continue
		}
		if stale == nil {
			stale = map[string][]uint16{}
		}
		for _, f := range strings.Split(strings.TrimSuffix(strings.TrimSpace(elems), "}"), ",") {
			if p, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16); err == nil {
				stale[proto] = append(stale[proto], uint16(p))
			}
		}
	}
	return out.String(), stale
}

// readCounters lists the counting sets as nft -j shows them, the oracle of readCountersNetlink, and returns the counter of every port, by protocol. A missing
// table or set reads as empty.
func readCounters(ctx context.Context, nftPath string) (map[string]map[uint16]backend.Counter, error) {
	out := map[string]map[uint16]backend.Counter{}
	for _, proto := range protocols {
		cmd := exec.CommandContext(ctx, nftPath, "-j", "list", "set", "ip", Table, countSetBase+proto)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			if strings.Contains(stderr.String(), "No such file or directory") {
				continue
			}
			return nil, fmt.Errorf("reading counters: %s", firstLines(strings.TrimSpace(stderr.String()), 2))
		}
		ports, err := parseCountSet(stdout.Bytes())
		if err != nil {
			return nil, err
		}
		out[proto] = ports
	}
	return out, nil
}

// parseCountSet reads `nft -j list set` output whose elements look like
// {"elem": {"val": 8090, "counter": {"packets": 1, "bytes": 60}}}.
func parseCountSet(data []byte) (map[uint16]backend.Counter, error) {
	var doc struct {
		Nftables []struct {
			Set *struct {
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing nft counters: %w", err)
	}
	out := map[uint16]backend.Counter{}
	for _, o := range doc.Nftables {
		if o.Set == nil {
			continue
		}
		for _, raw := range o.Set.Elem {
			var e struct {
				Elem struct {
					Val     uint16          `json:"val"`
					Counter backend.Counter `json:"counter"`
				} `json:"elem"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				// A bare number: an element without a counter.
				var port uint16
				if json.Unmarshal(raw, &port) == nil {
					out[port] = backend.Counter{}
					continue
				}
				return nil, fmt.Errorf("parsing nft counter element %s: %w", raw, err)
			}
			out[e.Elem.Val] = e.Elem.Counter
		}
	}
	return out, nil
}
