package backend

import (
	"context"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/doctor"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// Driver is everything the commands and the daemon need from one backend. Each backend package has one
// constructor that returns it (nft.Open, routeros.Open); backends.Open picks the constructor by the config's
// backend kind, the only place that compares it.
type Driver struct {
	Backend
	// Observe reads the router's addresses now. A WAN or LAN interface that does not exist is an error.
	Observe func(ctx context.Context) (plan.Observed, error)
	// Watch delivers observations for the daemon: the current one first, then one per change. The channel
	// closes when ctx ends. cfg names the interfaces (a reload may change them).
	Watch func(ctx context.Context, cfg *config.Config) (<-chan plan.Observed, error)
	// Doctor checks this machine or router for what the backend needs.
	Doctor func(ctx context.Context) []doctor.Finding
	// Installed reports whether hairpin's rules are in place, for status without a daemon; nil when the
	// backend cannot tell cheaply.
	Installed func(ctx context.Context) (bool, error)
	// Local is true when the router is this machine: its interfaces, routes and the box in front of it are
	// reachable from here (wan.upstream mapping and its doctor check run only then).
	Local bool
	// DetectDSLite looks for a DS-Lite tunnel in this machine's routes; nil when the routes that matter are
	// on another machine (a MikroTik).
	DetectDSLite func() (bool, string, error)
	// At says where the rules go, for the command's messages: "" for this machine, " at https://router".
	At string
	// Requests describes the work done so far for the command's summary ("4 reads, 5 writes"); nil when there
	// is nothing worth saying.
	Requests func() string
	// Removed says what Down removed, for the command's message.
	Removed func() string
	// CanChange says why this process cannot change anything (nftables needs root), before a command or the
	// daemon starts; nil when nothing is known to be missing.
	CanChange func() error
	// Close releases connections; nil when there are none.
	Close func() error
}
