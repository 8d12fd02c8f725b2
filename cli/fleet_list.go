package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"text/tabwriter"

	"rampart/fleet/api"
	"rampart/fleet/store"
)

// printList fetches a list from the admin API and prints it as JSON (--json)
// or as a table with header and one row per item: the one shape of every
// "list" subcommand of rampart fleet and rampart campaign.
func printList[T any](env *Env, o *fleetOpts, c *api.Client, path string, q url.Values, header string, row func(T) string) error {
	var items []T
	if err := c.Get(context.Background(), path, q, &items); err != nil {
		return fleetErr(err)
	}
	if o.json {
		return printJSON(env, items)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, it := range items {
		fmt.Fprintln(tw, row(it))
	}
	return tw.Flush()
}

// postRelease uploads a signed image as a release (the server verifies it
// with its release keys) and prints what was registered: the one shape of
// "rampart fleet releases register" and "rampart campaign upload". force
// accepts a security counter lower than an uploaded release's.
func postRelease(env *Env, o *fleetOpts, path, comment string, force bool) error {
	b, err := attestReadInput(env, path, "image")
	if err != nil {
		return err
	}
	c, err := o.client(env)
	if err != nil {
		return err
	}
	q := url.Values{}
	if comment != "" {
		q.Set("comment", comment)
	}
	if force {
		q.Set("force", "true")
	}
	var r store.Release
	if err := c.Post(context.Background(), "/api/v1/releases", q, bytes.NewReader(b), "application/octet-stream", &r); err != nil {
		return fleetErr(err)
	}
	if o.json {
		return printJSON(env, r)
	}
	fmt.Fprintf(env.Stdout, "registered %s %s: measurement %x\n", r.Component.MeasurementType, r.Component.Version, r.Component.MeasurementValue)
	return nil
}
