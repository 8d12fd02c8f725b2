package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls the admin API.
type Client struct {
	URL   string // base URL, e.g. https://127.0.0.1:8444
	Token string
	HTTP  *http.Client
}

// NewClient builds a client trusting roots (the fleet CA) for TLS; nil
// roots uses the system pool.
func NewClient(baseURL, token string, roots *x509.CertPool) *Client {
	return &Client{URL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}},
	}}
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("api: server answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Do sends a request and returns the body of a 2xx answer; other answers
// are *StatusError.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body io.Reader, contentType string) ([]byte, error) {
	u := c.URL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("api: reading reply: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e Error
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return nil, &StatusError{Status: resp.StatusCode, Message: msg}
	}
	return b, nil
}

// Get decodes a JSON GET answer into v.
func (c *Client) Get(ctx context.Context, path string, query url.Values, v any) error {
	b, err := c.Do(ctx, http.MethodGet, path, query, nil, "")
	if err != nil {
		return err
	}
	return decode(b, v)
}

// Post sends body and decodes the JSON answer into v (when v is not nil).
func (c *Client) Post(ctx context.Context, path string, query url.Values, body io.Reader, contentType string, v any) error {
	b, err := c.Do(ctx, http.MethodPost, path, query, body, contentType)
	if err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	return decode(b, v)
}

func decode(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("api: decoding reply: %w", err)
	}
	return nil
}

// IsStatus reports whether err is a *StatusError with one of codes.
func IsStatus(err error, codes ...int) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range codes {
		if se.Status == c {
			return true
		}
	}
	return false
}
