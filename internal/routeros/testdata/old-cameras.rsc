# hairpin's export before the schema check, kept as a negative control (TestOldScriptFails): RouterOS refuses
# connection-nat-state in /ip firewall nat, and `find where list=$list` compares each entry's list to itself.
# hairpin: port forwards with hairpin NAT for RouterOS v7, generated from cameras.yaml by `hairpin export routeros`.
# Paste it into a terminal, or upload it and run /import file-name=hairpin.rsc. Running it again replaces
# what it added. Everything it creates has a comment starting with HAIRPIN:v1:; nothing else is changed,
# including rules of your own that mention hairpin in their comment.

/ip firewall nat remove [find where comment~"^HAIRPIN:v1:"]
/ip firewall address-list remove [find where comment~"^HAIRPIN:v1:"]
/system scheduler remove [find where comment="HAIRPIN:v1:updater"]
/system script remove [find where comment="HAIRPIN:v1:updater"]

# The LAN subnets (list hairpin-lan) come from bridge's addresses: the updater below fills the list.

# One dst-nat rule per forward and protocol, matching list hairpin-wan (the WAN addresses, kept by the updater).
/ip firewall nat add chain=dstnat action=dst-nat dst-address-list=hairpin-wan protocol=tcp dst-port=8090 to-addresses=192.168.88.180 to-ports=80 comment="HAIRPIN:v1:dnat:front-cam:tcp"
/ip firewall nat add chain=dstnat action=dst-nat dst-address-list=hairpin-wan protocol=tcp dst-port=8091 to-addresses=192.168.88.181 to-ports=80 comment="HAIRPIN:v1:dnat:back-cam:tcp"
/ip firewall nat add chain=dstnat action=dst-nat dst-address-list=hairpin-wan protocol=tcp dst-port=8092 to-addresses=192.168.88.182 to-ports=80 comment="HAIRPIN:v1:dnat:pool-cam:tcp"
/ip firewall nat add chain=dstnat action=dst-nat dst-address-list=hairpin-wan protocol=tcp dst-port=8093 to-addresses=192.168.88.183 to-ports=80 comment="HAIRPIN:v1:dnat:driveway-cam:tcp"

# Hairpin masquerade: LAN clients reaching a forward through the WAN address get the answers from the
# router, as they expect, not straight from the server. Only flows a dst-nat rule rewrote are touched.
/ip firewall nat add chain=srcnat action=masquerade src-address-list=hairpin-lan dst-address-list=hairpin-lan connection-nat-state=dstnat comment="HAIRPIN:v1:masq"

# Put the forwards above the first rule of yours that would take their packets first. Your rules keep their
# order; NAT exemptions (action=accept) stay above hairpin's rules.
{
  :local first [/ip firewall nat find where chain=dstnat && !dynamic && !(comment~"^HAIRPIN:v1:") && (action="dst-nat" || action="netmap" || action="redirect")]
  :if ([:len $first] > 0) do={ /ip firewall nat move [find where chain=dstnat && comment~"^HAIRPIN:v1:"] destination=[:pick $first 0] }
  :set first [/ip firewall nat find where chain=srcnat && !dynamic && !(comment~"^HAIRPIN:v1:") && (action="masquerade" || action="src-nat" || action="netmap" || action="same")]
  :if ([:len $first] > 0) do={ /ip firewall nat move [find where comment="HAIRPIN:v1:masq"] destination=[:pick $first 0] }
}

# hairpin-update keeps list hairpin-wan equal to ether1's IPv4 addresses.
/system script add name=hairpin-update comment="HAIRPIN:v1:updater" policy=read,write,test dont-require-permissions=no source={
  # :local, not :global: every value is read fresh on each run and forgotten after it, so no address from an
  # earlier run (or from DNS, which may still hold the old one) can end up in the rules.
  :local sync do={
    :foreach id in=[/ip firewall address-list find where list=$list && comment=$mark] do={
      :if ([:len [:find $want [:tostr [/ip firewall address-list get $id address]]]] = 0) do={ /ip firewall address-list remove $id }
    }
    :foreach a in=$want do={
      :if ([:len [/ip firewall address-list find where list=$list && comment=$mark && address=$a]] = 0) do={
        /ip firewall address-list add list=$list address=$a comment=$mark
      }
    }
  }
  :local wan [:toarray ""]
  :foreach id in=[/ip address find where interface="ether1" && !disabled && !invalid] do={
    :local a [:tostr [/ip address get $id address]]
    :set wan ($wan, [:pick $a 0 [:find $a "/"]])
  }
  $sync list="hairpin-wan" mark="HAIRPIN:v1:wan" want=$wan
  :local lan [:toarray ""]
  :foreach id in=[/ip address find where interface="bridge" && !disabled && !invalid] do={
    :local a [:tostr [/ip address get $id address]]
    :set lan ($lan, ([:tostr [/ip address get $id network]] . [:pick $a [:find $a "/"] [:len $a]]))
  }
  $sync list="hairpin-lan" mark="HAIRPIN:v1:lan" want=$lan
}
/system scheduler add name=hairpin-update comment="HAIRPIN:v1:updater" start-time=startup interval=1m policy=read,write,test on-event="/system script run hairpin-update"
/system script run hairpin-update
