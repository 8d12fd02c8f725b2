package cli

import (
	"context"
	"fmt"
	"net/url"
	"text/tabwriter"

	"rampart/fleet/api"
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
