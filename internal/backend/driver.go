package backend

import (
	"context"

	"github.com/hairpin-nat/hairpin/internal/config"
	"github.com/hairpin-nat/hairpin/internal/doctor"
	"github.com/hairpin-nat/hairpin/internal/plan"
)

// Driver is everything the commands and the daemon need from one backend. Each backend package has one
// constructor that returns it (nft.Open, routeros.Open); backends.Open picks the constructor by the config's
// backend kind, the only place that compares it. Every field is set. What only some backends can do is an
// optional interface of Backend (Installer, Local, ChangeChecker, RequestCounter, HostUpdater, IPv6Updater,
// TwoStepWAN, io.Closer), asked for with a type assertion.
type Driver struct {
	Backend
	// Observe reads the router's addresses now. A WAN or LAN interface that does not exist is an error.
	Observe func(ctx context.Context) (plan.Observed, error)
	// Watch delivers observations for the daemon: the current one first, then one per change. The channel
	// closes when ctx ends. cfg names the interfaces (a reload may change them).
	Watch func(ctx context.Context, cfg *config.Config) (<-chan plan.Observed, error)
	// Doctor checks this machine or router for what the backend needs.
	Doctor func(ctx context.Context) []doctor.Finding
	// PlanOptions says what the backend cannot do that changes the plan (plan.Options.NoIIDTargets).
	PlanOptions plan.Options
	// At says where the rules go, for the command's messages: "" for this machine, " at https://router".
	At string
	// Removed says what Down removed, for the command's message.
	Removed func() string
}

// Preview is what `hairpin show` needs of a config's backend, without root, a connection or a secret.
type Preview struct {
	// Observe reads the interfaces the config names, leaving out (with a note) any that is missing.
	Observe func() (plan.Observed, []string)
	// PlanOptions is the backend's, as in Driver.
	PlanOptions plan.Options
	// Render is the rules the plan gives, as text.
	Render func(d *plan.Desired) string
}

// Blocker is a backend that can tell what on the router stops its rules from working (forwarding off, a
// filter that drops what it forwards): apply and the daemon warn about it, so a router never looks fine while
// nothing gets through.
type Blocker interface {
	Blocking(ctx context.Context, cfg *config.Config) []doctor.Finding
}

// Installer is a backend that tells cheaply whether hairpin's rules are in place, for status without a
// daemon (nftables).
type Installer interface {
	Installed(ctx context.Context) (bool, error)
}

// Local is a backend whose router is this machine (nftables): its interfaces, routes and the box in front of
// it are reachable from here, so wan.upstream mapping and its doctor check run only then.
type Local interface {
	// DetectDSLite looks for a DS-Lite tunnel in this machine's routes.
	DetectDSLite() (bool, string, error)
}

// ChangeChecker is a backend that knows, before a command or the daemon starts, whether this process can
// change anything (nftables needs root).
type ChangeChecker interface {
	CanChange() error
}

// RequestCounter is a backend that works by requests worth counting in the command's summary (RouterOS).
type RequestCounter interface {
	Requests() (reads, writes int64)
}
