package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"text/tabwriter"
)

// printList fetches a list from the admin API and prints it as JSON (--json)
// or as a table with header and one row per item: the one shape of every
// "list" subcommand of rampart fleet and rampart campaign.
func printList[T any](env *Env, o *fleetOpts, list func(context.Context) ([]T, error), header string, row func(T) string) error {
	items, err := list(context.Background())
	if err != nil {
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
	done := o.meter(env, c, "upload "+filepath.Base(path))
	r, _, err := c.UploadRelease(context.Background(), b, comment, force)
	done()
	if err != nil {
		return fleetErr(err)
	}
	if o.json {
		return printJSON(env, r)
	}
	fmt.Fprintf(env.Stdout, "registered %s %s: measurement %x\n", r.SwType, r.Version, r.Digest)
	return nil
}
