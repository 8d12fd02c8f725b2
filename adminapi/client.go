package adminapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxReply bounds a reply the client reads (a telemetry export is the
// largest).
const maxReply = 256 << 20

// Client calls the admin API.
type Client struct {
	URL   string // base URL, e.g. https://127.0.0.1:8444
	Token string
	HTTP  *http.Client
	// Progress, when set, is told of every chunk of a request body sent
	// and of a reply body received: the bytes so far and the total when
	// known (-1 otherwise). It is called on the goroutine reading the body
	// and must not block.
	Progress func(Transfer)
}

// Transfer is the state of one request or reply body in flight.
type Transfer struct {
	Sending bool  // the request body (an upload); false for the reply
	Done    int64 // bytes so far
	Total   int64 // the body's length, -1 when unknown
}

// countingReader reports every read to the Client's Progress.
type countingReader struct {
	r    io.Reader
	t    Transfer
	tell func(Transfer)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.t.Done += int64(n)
		c.tell(c.t)
	}
	return n, err
}

// NewClient builds a client trusting roots (the fleet CA) for TLS; nil
// roots uses the system pool.
func NewClient(baseURL, token string, roots *x509.CertPool) *Client {
	return &Client{URL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}},
	}}
}

// Do sends a request and returns the body of a 2xx answer; other answers
// are *StatusError. The typed methods below are built on it.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body io.Reader, contentType string) ([]byte, error) {
	b, _, err := c.do(ctx, method, path, query, body, contentType)
	return b, err
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body io.Reader, contentType string) ([]byte, http.Header, error) {
	u := c.URL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, nil, fmt.Errorf("adminapi: %w", err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Progress != nil && req.Body != nil {
		// The length NewRequest found (a bytes.Reader's) stays the
		// request's Content-Length; only the reads are counted.
		req.Body = struct {
			io.Reader
			io.Closer
		}{&countingReader{r: req.Body, t: Transfer{Sending: true, Total: req.ContentLength}, tell: c.Progress}, req.Body}
		req.GetBody = nil
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("adminapi: %w", err)
	}
	defer resp.Body.Close()
	var rb io.Reader = resp.Body
	if c.Progress != nil {
		rb = &countingReader{r: resp.Body, t: Transfer{Total: resp.ContentLength}, tell: c.Progress}
	}
	b, err := io.ReadAll(io.LimitReader(rb, maxReply))
	if err != nil {
		return nil, nil, fmt.Errorf("adminapi: reading reply: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e Error
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return nil, nil, &StatusError{Status: resp.StatusCode, Message: msg}
	}
	return b, resp.Header, nil
}

// get decodes the JSON answer of a GET into v.
func (c *Client) get(ctx context.Context, path string, query url.Values, v any) error {
	b, err := c.Do(ctx, http.MethodGet, path, query, nil, "")
	if err != nil {
		return err
	}
	return decode(b, v)
}

// postJSON sends req as JSON and decodes the answer into v.
func (c *Client) postJSON(ctx context.Context, path string, req, v any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("adminapi: %w", err)
	}
	b, err := c.Do(ctx, http.MethodPost, path, nil, bytes.NewReader(body), "application/json")
	if err != nil {
		return err
	}
	return decode(b, v)
}

func decode(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("adminapi: decoding reply: %w", err)
	}
	return nil
}

// Devices lists the devices, all or those in state.
func (c *Client) Devices(ctx context.Context, state DeviceState) ([]Device, error) {
	q := url.Values{}
	set(q, "state", string(state))
	var out []Device
	err := c.get(ctx, "/api/v1/devices", q, &out)
	return out, err
}

// Device returns one device with its certificates.
func (c *Client) Device(ctx context.Context, id string) (*DeviceDetail, error) {
	var d DeviceDetail
	if err := c.get(ctx, "/api/v1/devices/"+url.PathEscape(id), nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Transition makes a lifecycle call on a device.
func (c *Client) Transition(ctx context.Context, id string, a DeviceAction, reason string) (*TransitionResult, error) {
	var r TransitionResult
	if err := c.postJSON(ctx, "/api/v1/devices/"+url.PathEscape(id)+"/"+url.PathEscape(string(a)), TransitionRequest{Reason: reason}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Endorsements lists the endorsements, one per device.
func (c *Client) Endorsements(ctx context.Context) ([]Endorsement, error) {
	var out []Endorsement
	err := c.get(ctx, "/api/v1/endorsements", nil, &out)
	return out, err
}

// ImportEndorsements imports a signed endorsement list (the COSE_Sign1
// that rampart spe provision writes) as it is.
func (c *Client) ImportEndorsements(ctx context.Context, signed []byte) (*ImportResult, error) {
	b, err := c.Do(ctx, http.MethodPost, "/api/v1/endorsements", nil, bytes.NewReader(signed), "application/cose")
	if err != nil {
		return nil, err
	}
	var r ImportResult
	if err := decode(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Releases lists the registered releases.
func (c *Client) Releases(ctx context.Context) ([]Release, error) {
	var out []Release
	err := c.get(ctx, "/api/v1/releases", nil, &out)
	return out, err
}

// UploadRelease registers a signed image; force accepts a security counter
// lower than an uploaded release's. It returns the release and the stored
// image's hex SHA-256 (empty from a server without a campaign engine).
func (c *Client) UploadRelease(ctx context.Context, img []byte, comment string, force bool) (*Release, string, error) {
	q := url.Values{}
	set(q, "comment", comment)
	if force {
		q.Set("force", strconv.FormatBool(force))
	}
	b, h, err := c.do(ctx, http.MethodPost, "/api/v1/releases", q, bytes.NewReader(img), "application/octet-stream")
	if err != nil {
		return nil, "", err
	}
	var r Release
	if err := decode(b, &r); err != nil {
		return nil, "", err
	}
	return &r, h.Get(ImageSHA256Header), nil
}

// Campaigns lists the campaigns (without their specs).
func (c *Client) Campaigns(ctx context.Context) ([]CampaignSummary, error) {
	var out []CampaignSummary
	err := c.get(ctx, "/api/v1/campaigns", nil, &out)
	return out, err
}

// CreateCampaign creates and starts a campaign.
func (c *Client) CreateCampaign(ctx context.Context, sp CampaignSpec) (*CampaignSummary, error) {
	var s CampaignSummary
	if err := c.postJSON(ctx, "/api/v1/campaigns", sp, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Campaign returns a campaign's progress; with devices, every device's.
func (c *Client) Campaign(ctx context.Context, id string, devices bool) (*CampaignSummary, error) {
	q := url.Values{}
	if devices {
		q.Set("devices", "true")
	}
	var s CampaignSummary
	if err := c.get(ctx, "/api/v1/campaigns/"+url.PathEscape(id), q, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ControlCampaign applies an operator's command to a campaign.
func (c *Client) ControlCampaign(ctx context.Context, id string, a CampaignAction, reason string) (*CampaignSummary, error) {
	var s CampaignSummary
	if err := c.postJSON(ctx, "/api/v1/campaigns/"+url.PathEscape(id)+"/"+url.PathEscape(string(a)), TransitionRequest{Reason: reason}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Audit returns audit entries, newest first.
func (c *Client) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	var out []AuditEntry
	err := c.get(ctx, "/api/v1/audit", q.Values(), &out)
	return out, err
}

// Telemetry returns samples.
func (c *Client) Telemetry(ctx context.Context, q TelemetryQuery) ([]Point, error) {
	var out []Point
	err := c.get(ctx, "/api/v1/telemetry", q.Values(FormatJSON), &out)
	return out, err
}

// ExportTelemetry returns samples as the server writes them in format
// (FormatCSV or FormatJSON).
func (c *Client) ExportTelemetry(ctx context.Context, q TelemetryQuery, format string) ([]byte, error) {
	return c.Do(ctx, http.MethodGet, "/api/v1/telemetry", q.Values(format), nil, "")
}
