package routeros

import (
	"context"
	"time"

	"github.com/hairpin-nat/hairpin/internal/plan"
)

// poll observes the router every interval for the daemon: it sends the first observation, then each one that
// differs from the last sent. A failed poll goes to onErr (nil: logged, once until the error changes) and
// polling goes on; the router coming back is just the next observation. The channel closes when ctx ends.
func (b *Backend) poll(ctx context.Context, every time.Duration, onErr func(error)) <-chan plan.Observed {
	if onErr == nil {
		var last string
		onErr = func(err error) {
			if s := err.Error(); s != last {
				last = s
				b.log.Warn("cannot observe the router; retrying", "every", every, "error", err)
			}
		}
	}
	out := make(chan plan.Observed, 1)
	go func() {
		defer close(out)
		t := time.NewTicker(every)
		defer t.Stop()
		var last *plan.Observed
		for {
			obs, err := b.Observe(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				onErr(err)
			case last == nil || !last.Equal(obs):
				last = &obs
				select {
				case out <- obs:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
