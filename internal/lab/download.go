package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hairpin-nat/hairpin/internal/netns"
)

// DownloadPath is the cameras' slow download: DownloadSize bytes over DownloadTime, long enough to kill a
// router in the middle of it. Its length is announced, so a connection cut short is an error, not a short
// file.
const (
	DownloadPath  = "/download"
	DownloadTime  = 8 * time.Second
	downloadChunk = 8 << 10
	downloadEvery = 20 * time.Millisecond
	DownloadSize  = int64(DownloadTime/downloadEvery) * downloadChunk
)

func download(w http.ResponseWriter) {
	w.Header().Set("Content-Length", strconv.FormatInt(DownloadSize, 10))
	chunk := make([]byte, downloadChunk)
	flusher, _ := w.(http.Flusher)
	tick := time.NewTicker(downloadEvery)
	defer tick.Stop()
	for sent := int64(0); sent < DownloadSize; sent += downloadChunk {
		if _, err := w.Write(chunk); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		<-tick.C
	}
}

// ErrStalled is a download that stopped moving: its packets are dropped somewhere.
var ErrStalled = errors.New("stalled")

const stallAfter = 3 * time.Second

// Download is a slow download in progress.
type Download struct {
	stalled atomic.Bool
	got     atomic.Int64
	done    chan struct{}
	err     error
}

// StartDownload fetches url's DownloadPath from inside namespace ns in the background.
func StartDownload(ctx context.Context, ns, url string) *Download {
	d := &Download{done: make(chan struct{})}
	go func() {
		defer close(d.done)
		// A stalled connection ends after a few seconds of silence: a survived failover stalls for about one.
		client := &http.Client{Transport: &http.Transport{DialContext: netns.Dialer(ns), DisableKeepAlives: true, ResponseHeaderTimeout: 5 * time.Second}}
		ctx, cancel := context.WithTimeout(ctx, 3*DownloadTime)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+DownloadPath, nil)
		if err != nil {
			d.err = err
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			d.err = err
			return
		}
		defer resp.Body.Close()
		// A download that stops moving for stallAfter is over: the connection is dead even if nobody said so.
		// Marked before the cancel: the read the cancel ends must already see why it ended.
		stall := time.AfterFunc(stallAfter, func() { d.stalled.Store(true); cancel() })
		defer stall.Stop()
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			stall.Reset(stallAfter)
			d.got.Add(int64(n))
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				d.err = err
				if d.stalled.Load() {
					d.err = fmt.Errorf("%w after %d bytes: no data for %v", ErrStalled, d.got.Load(), stallAfter)
				}
				return
			}
		}
		if g := d.got.Load(); g != DownloadSize {
			d.err = fmt.Errorf("got %d of %d bytes", g, DownloadSize)
		}
	}()
	return d
}

// Got is the number of bytes received so far.
func (d *Download) Got() int64 { return d.got.Load() }

// Wait waits for the download to end and returns why it failed (nil: every byte arrived).
func (d *Download) Wait() error {
	<-d.done
	return d.err
}
