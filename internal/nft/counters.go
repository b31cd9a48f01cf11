package nft

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"sort"
	"strings"

	"github.com/mdlayher/netlink"

	"github.com/hairpin-nat/hairpin/internal/backend"
)

// readCounters lists the counting sets as JSON and returns the counter of every port, by protocol. A missing
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

// portsByProto is the sorted ports of each protocol's counters.
func portsByProto(perPort map[string]map[uint16]backend.Counter) map[string][]uint16 {
	out := map[string][]uint16{}
	for proto, ports := range perPort {
		s := slices.Collect(maps.Keys(ports))
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		out[proto] = s
	}
	return out
}

// countedPortsNetlink lists the counting sets' ports over netlink: an apply runs no nft process to read
// them (a `nft -j list set` of each set cost two process starts and, with traffic on tens of thousands of
// ports, a JSON document of them).
func countedPortsNetlink(conn *netlink.Conn) (map[string][]uint16, error) {
	out := map[string][]uint16{}
	for _, proto := range protocols {
		keys, err := setKeys(conn, ipv4, countSetBase+proto)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("set %s%s: %w", countSetBase, proto, err)
		}
		for _, k := range keys {
			if len(k) >= 2 {
				out[proto] = append(out[proto], uint16(k[0])<<8|uint16(k[1]))
			}
		}
		slices.Sort(out[proto])
	}
	return out, nil
}
