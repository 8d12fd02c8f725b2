package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"rampart/psaclient"
	"rampart/spe/audit"
)

func init() { speSubcommands = append(speSubcommands, newSpeAuditCmd) }

// speAuditMax bounds the log an audit reader fetches.
const speAuditMax = 256 << 20

type speAuditRecord struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Client int32     `json:"client"`
	Event  string    `json:"event"`
	Data   string    `json:"data"`
}

type speAuditReport struct {
	Records     []speAuditRecord `json:"records"`
	Checkpoints int              `json:"checkpoints"`
	Unsealed    int              `json:"unsealed"`
	TornBytes   int64            `json:"torn_bytes"`
}

func newSpeAuditCmd(env *Env) *cobra.Command {
	var sock, stateDir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit [--socket SOCK | --state-dir DIR] [--json]",
		Short: "Retrieve the SPE's audit log and verify its hash chain and signed checkpoints",
		Long: `Fetch the whole audit log from the SPE's audit service (this client must be an
authorized reader; over --state-dir the SPE runs in this process and the caller is a secure
client) with the checkpoint public key, verify it with audit.Verify (every record chained,
every checkpoint signed) and print the records. Any edit, deletion or reordering is reported.

Exit codes: 0 intact, 1 tampered, 2 usage, 3 I/O or refused.`,
		Example: `  rampart spe audit --state-dir /var/lib/rampart/spe
  rampart spe audit --socket /run/rampart/spe.sock --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, done, err := speTransport(env, sock, stateDir, "", 1)
			if err != nil {
				return err
			}
			defer done()
			c := psaclient.NewAudit(t)
			defer c.Close()
			data, err := c.ReadAll(speAuditMax)
			if err != nil {
				return speDialErr(err, sock)
			}
			pub, err := c.PublicKey()
			if err != nil {
				return speDialErr(err, sock)
			}
			rep, err := audit.Verify(bytes.NewReader(data), int64(len(data)), pub, audit.VerifyOptions{})
			if err != nil {
				return fail(ExitFailure, err, "the audit log was edited, truncated or reordered")
			}
			out := speAuditReport{Checkpoints: rep.Checkpoints, Unsealed: rep.Unsealed, TornBytes: rep.TornBytes, Records: []speAuditRecord{}}
			for _, r := range rep.Records {
				out.Records = append(out.Records, speAuditRecord{r.Seq, r.Time, r.Client, r.Event, string(r.Data)})
			}
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tTIME\tCLIENT\tEVENT\tDATA")
			for _, r := range out.Records {
				fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%q\n", r.Seq, r.Time.Format(time.RFC3339), r.Client, r.Event, r.Data)
			}
			tw.Flush()
			fmt.Fprintf(env.Stdout, "intact: %d records, %d signed checkpoints, %d records after the last checkpoint\n",
				len(out.Records), out.Checkpoints, out.Unsealed)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&sock, "socket", "", "SPE socket (default $RAMPART_SPE_SOCKET or "+speDefaultSocket+")")
	f.StringVar(&stateDir, "state-dir", "", "run the SPE in this process from this state directory")
	f.BoolVar(&asJSON, "json", false, "print the records as JSON")
	return cmd
}
