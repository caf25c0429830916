package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"time"
)

// fileSignature identifies a version of the proxy file.
type fileSignature struct {
	modTime time.Time
	size    int64
	sum     [sha256.Size]byte
}

// readFile reads and parses the proxy file, logging and counting its bad lines.
func (p *Pool) readFile() ([]Proxy, fileSignature, error) {
	st, err := os.Stat(p.cfg.File)
	if err != nil {
		return nil, fileSignature{}, fmt.Errorf("stat proxy file: %w", err)
	}
	data, err := os.ReadFile(p.cfg.File)
	if err != nil {
		return nil, fileSignature{}, fmt.Errorf("read proxy file: %w", err)
	}
	sig := fileSignature{modTime: st.ModTime(), size: st.Size(), sum: sha256.Sum256(data)}
	proxies, errs := ParseFile(bytes.NewReader(data))
	for _, e := range errs {
		p.m.fileErrors.Inc()
		p.log.Warn("skip proxy file line", "file", p.cfg.File, "err", e)
	}
	return proxies, sig, nil
}

// Reload re-reads the proxy file now and applies it: unchanged proxies keep their state (limiter,
// cooldown), new ones are added and missing ones removed. A file that cannot be read changes nothing.
func (p *Pool) Reload() error { return p.check(true) }

// check re-reads the file when forced or when its modification time or size changed, and applies it
// when its content changed (or when forced).
func (p *Pool) check(force bool) error {
	if p.cfg.File == "" {
		return nil
	}
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	if !force {
		st, err := os.Stat(p.cfg.File)
		if err == nil && st.ModTime().Equal(p.fileSig.modTime) && st.Size() == p.fileSig.size {
			return nil
		}
	}
	proxies, sig, err := p.readFile()
	if err != nil {
		p.m.reloads.WithLabelValues("error").Inc()
		return err
	}
	same := sig.sum == p.fileSig.sum
	p.fileSig = sig
	if same && !force {
		return nil
	}
	p.m.reloads.WithLabelValues("ok").Inc()
	p.apply(proxies, false)
	return nil
}

// Watch re-reads the proxy file whenever it changes (checked every PollInterval) or reload fires
// (connect SIGHUP to it), until ctx is done; it then returns nil. Read errors are logged and the
// current proxies kept; an error that persists (a missing file, say) is logged once, and again when it
// changes or on a requested reload.
func (p *Pool) Watch(ctx context.Context, reload <-chan struct{}) error {
	t := time.NewTicker(p.cfg.PollInterval)
	defer t.Stop()
	lastErr := ""
	for {
		var err error
		forced := false
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			err = p.check(false)
		case _, ok := <-reload:
			if !ok {
				reload = nil
				continue
			}
			p.log.Info("reloading proxy file on request", "file", p.cfg.File)
			err = p.check(true)
			forced = true
		}
		switch {
		case err == nil:
			lastErr = ""
		case forced || err.Error() != lastErr:
			lastErr = err.Error()
			p.log.Error("reload proxy file: keeping the current proxies", "file", p.cfg.File, "err", err)
		}
	}
}
