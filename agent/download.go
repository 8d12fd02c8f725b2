package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"rampart/deviceproto"
	"rampart/internal/secfile"
)

// DownloadFile is the partial or complete image in the agent's directory.
const DownloadFile = "download.bin"

// ErrDigest: the downloaded image does not match the job's digest.
var ErrDigest = errors.New("agent: download: digest does not match the job")

// download fetches the job's image into DownloadFile over https only
// (redirects only to the same origin: sameOriginHTTPS), resuming a partial
// file with an HTTP Range request, and checks its size and SHA-256. A
// server that ignores Range restarts the file from zero; a digest mismatch
// deletes the file and is fatal for the job.
//
// mirrors are the other endpoints the job's signer certified (and the
// enrollment endpoint): after a transient failure, the next attempt asks
// the next of them for the same path, resuming where the file stopped, so
// a download survives the loss of the node serving it. Only the job's own
// URL answering 403, 404 or 410 is fatal; a mirror that does is skipped.
func (a *Agent) download(ctx context.Context, j deviceproto.Job, mirrors []string) (string, error) {
	// Checked here as well as when the job was taken: a job persisted by
	// an older agent, before jobs were signed, may name plain http.
	if err := deviceproto.CheckHTTPS(j.URL); err != nil {
		return "", fatal(err)
	}
	src, mirrored := a.downloadURL(j.URL, mirrors)
	path, err := a.fetch(ctx, j, src, mirrored)
	if err != nil && !IsFatal(err) {
		a.mu.Lock()
		a.mirror++
		a.mu.Unlock()
		if len(mirrors) > 0 {
			a.cfg.Log.Info("download interrupted: the next attempt resumes from the next endpoint", "from", src, "err", err)
		}
	}
	return path, err
}

// downloadURL is the URL of the current attempt: the job's, or the same
// path on one of mirrors (in turn, after failures).
func (a *Agent) downloadURL(raw string, mirrors []string) (string, bool) {
	urls := []string{raw}
	if u, err := url.Parse(raw); err == nil {
		own := deviceproto.Endpoint(u)
		for _, e := range mirrors {
			if e == own {
				continue
			}
			if m, err := deviceproto.MirrorURL(raw, e); err == nil {
				urls = append(urls, m)
			}
		}
	}
	a.mu.Lock()
	i := a.mirror % len(urls)
	a.mu.Unlock()
	return urls[i], i > 0
}

// fetch is one download attempt from src (a mirror of the job's URL when
// mirrored).
func (a *Agent) fetch(ctx context.Context, j deviceproto.Job, src string, mirrored bool) (string, error) {
	path := filepath.Join(a.cfg.Dir, DownloadFile)
	f, err := secfile.OpenFile(path, os.O_RDWR|os.O_CREATE) // 0600, tightened if it exists
	if err != nil {
		return "", fmt.Errorf("agent: download: %w", err)
	}
	defer f.Close()
	defer a.http.CloseIdleConnections()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return "", fmt.Errorf("agent: download: %w", err)
	}
	if have > j.Size {
		if err := f.Truncate(0); err != nil {
			return "", err
		}
		have = 0
	}
	if have < j.Size {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return "", fatal(fmt.Errorf("agent: download: %w", err))
		}
		if have > 0 {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		}
		resp, err := a.http.Do(req)
		if errors.Is(err, deviceproto.ErrJobURL) { // a redirect away from the fleet
			return "", fatal(fmt.Errorf("agent: download: %w", err))
		}
		if err != nil {
			return "", fmt.Errorf("agent: download: %w", err)
		}
		defer resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusPartialContent && have > 0:
			// resume
		case resp.StatusCode == http.StatusOK:
			if err := f.Truncate(0); err != nil {
				return "", err
			}
			if have, err = f.Seek(0, io.SeekStart); err != nil {
				return "", err
			}
		case !mirrored && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusGone):
			return "", fatal(fmt.Errorf("agent: download: %s: %s", src, resp.Status))
		default:
			return "", fmt.Errorf("agent: download: %s: %s", src, resp.Status)
		}
		buf := make([]byte, 32<<10)
		for have < j.Size {
			n, rerr := resp.Body.Read(buf[:min(int64(len(buf)), j.Size-have)])
			if n > 0 {
				if _, err := f.Write(buf[:n]); err != nil {
					return "", fmt.Errorf("agent: download: %w", err)
				}
				have += int64(n)
				if h := a.cfg.Hooks.DownloadBlock; h != nil {
					if err := h(have); err != nil {
						f.Sync()
						return "", err
					}
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				f.Sync()
				return "", fmt.Errorf("agent: download: after %d bytes: %w", have, rerr)
			}
		}
		if err := f.Sync(); err != nil {
			return "", err
		}
		if have < j.Size {
			return "", fmt.Errorf("agent: download: %d of %d bytes", have, j.Size)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("agent: download: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != j.SHA256 {
		f.Close()
		os.Remove(path)
		return "", fatal(fmt.Errorf("%w: sha256 %s, job says %s", ErrDigest, got, j.SHA256))
	}
	return path, nil
}
