package cli

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"rampart/internal/secfile"
	"rampart/ipc"
	"rampart/spe"
	"rampart/spe/seqdiagram"
)

func init() { speSubcommands = append(speSubcommands, newSpeTraceCmd) }

func newSpeTraceCmd(env *Env) *cobra.Command {
	var sock, out string
	var asJSON bool
	var duration time.Duration
	var capacity int
	cmd := &cobra.Command{
		Use:   "trace [-- command args...]",
		Short: "Record the calls the SPE's partition manager answers, for a sequence diagram",
		Long: `Start the partition manager's call trace, wait, read it and stop it. Each event names
the client and its connection (a non-secure thread), the partition, SID, call type, handle,
status and durations; never the data of a call. The SPE's configuration must list this
client in trace_clients (docs/spe-isolation.md, section 5).

With a command after --, the trace covers that command's run; otherwise --duration, or until
Ctrl-C. -o writes the trace (JSON) to a file for 'rampart spe trace render'; --json prints it.`,
		Example: `  rampart spe trace -o boot.json -- rampart agent run --once
  rampart spe trace --duration 10s -o trace.json
  rampart spe trace render trace.json --format svg -o trace.svg`,
		RunE: func(cmd *cobra.Command, args []string) error {
			sock = speSocket(env, sock)
			c, err := ipc.Dial(sock)
			if err != nil {
				return speDialErr(err, sock)
			}
			defer c.Close()
			if err := traceCall(c, spe.TraceOpStart, binary.LittleEndian.AppendUint32(nil, uint32(capacity))); err != nil {
				return speDialErr(err, sock)
			}
			waitErr := traceWait(env, args, duration)
			page, err := traceRead(c)
			if err != nil {
				return speDialErr(err, sock)
			}
			if err := traceCall(c, spe.TraceOpStop, nil); err != nil {
				return speDialErr(err, sock)
			}
			if err := traceWrite(env, page, out, asJSON); err != nil {
				return err
			}
			return waitErr
		},
	}
	cmd.Flags().StringVar(&sock, "socket", "", "SPE socket (default $RAMPART_SPE_SOCKET or "+speDefaultSocket+")")
	cmd.Flags().StringVarP(&out, "out", "o", "", "write the trace (JSON) to this file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the trace as JSON")
	cmd.Flags().DurationVar(&duration, "duration", 10*time.Second, "how long to record when no command is given")
	cmd.Flags().IntVar(&capacity, "capacity", spe.DefaultTraceCapacity, "events kept (the oldest are dropped beyond)")
	cmd.AddCommand(newSpeTraceRenderCmd(env))
	return cmd
}

// traceWait runs the command of args, or waits d or for Ctrl-C.
func traceWait(env *Env, args []string, d time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) == 0 {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
		return nil
	}
	run := exec.CommandContext(ctx, args[0], args[1:]...)
	run.Stdin, run.Stdout, run.Stderr = env.Stdin, env.Stdout, env.Stderr
	if err := run.Run(); err != nil {
		return fail(ExitFailure, fmt.Errorf("spe trace: %s: %w", args[0], err), "the trace of its calls is written all the same")
	}
	return nil
}

func traceCall(c ipc.Transport, op int32, in []byte) error {
	req := &ipc.Request{Kind: ipc.KindStateless, SID: spe.TraceSID, Version: 1, Type: op}
	if in != nil {
		req.In = [][]byte{in}
	}
	rep, err := c.RoundTrip(req)
	if err != nil {
		return err
	}
	if rep.Status != ipc.Success {
		return fmt.Errorf("spe trace: %w (is this client in trace_clients?)", rep.Status)
	}
	return nil
}

// traceRead reads every recorded event, a page at a time.
func traceRead(c ipc.Transport) (*spe.TracePage, error) {
	all := &spe.TracePage{Events: []spe.TraceEvent{}}
	var from uint64
	for {
		rep, err := c.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: spe.TraceSID, Version: 1, Type: spe.TraceOpRead,
			In: [][]byte{binary.LittleEndian.AppendUint64(nil, from)}, OutSize: []uint32{256 << 10}})
		if err != nil {
			return nil, err
		}
		if rep.Status != ipc.Success || len(rep.Out) != 1 {
			return nil, fmt.Errorf("spe trace: read: %w", rep.Status)
		}
		var p spe.TracePage
		if err := json.Unmarshal(rep.Out[0], &p); err != nil {
			return nil, fmt.Errorf("spe trace: read: %w", err)
		}
		all.Dropped, all.On = p.Dropped, p.On
		if len(p.Events) == 0 {
			return all, nil
		}
		all.Events = append(all.Events, p.Events...)
		from = p.Events[len(p.Events)-1].Seq + 1
	}
}

func traceWrite(env *Env, page *spe.TracePage, out string, asJSON bool) error {
	b, err := json.MarshalIndent(page, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if out != "" {
		// A trace names clients and their calls: it is written 0600.
		if err := secfile.WriteFile(out, b); err != nil {
			return fail(ExitError, err, "")
		}
		fmt.Fprintf(env.Stderr, "spe trace: %d events (%d dropped) written to %s\n", len(page.Events), page.Dropped, out)
	}
	if asJSON {
		_, err := env.Stdout.Write(b)
		return err
	}
	if out != "" {
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tCLIENT\tCONN\tKIND\tPARTITION\tSERVICE\tOP\tSTATUS\tTOTAL\tIN SERVICE")
	for _, e := range page.Events {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t0x%04x\t%s\t%s\t%s\n", e.Seq, e.Client, e.Session, e.Kind, e.Partition, e.Service,
			uint32(e.Op), e.StatusName(), time.Duration(e.Total), time.Duration(e.InService))
	}
	return tw.Flush()
}

func newSpeTraceRenderCmd(env *Env) *cobra.Command {
	var format, out string
	cmd := &cobra.Command{
		Use:   "render TRACE.json",
		Short: "Draw a trace as a sequence diagram (SVG, Mermaid or PlantUML)",
		Long: `Draw a trace written by 'rampart spe trace -o' as a sequence diagram: each non-secure
thread (client connection), the partition manager (SPM) and each partition is a lifeline;
each call is an arrow to the SPM and one from the SPM to the partition that serves it, with
the replies' status and durations. A partition that calls another service (the sensor
signing through crypto) draws its call inside the one it serves.`,
		Example: `  rampart spe trace render trace.json --format svg -o trace.svg
  rampart spe trace render trace.json --format mermaid
  rampart spe trace render trace.json --format plantuml -o trace.puml`,
		Args: exactArgs(1, "one trace file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return fail(ExitError, err, "")
			}
			var page spe.TracePage
			if err := json.Unmarshal(b, &page); err != nil {
				return fail(ExitFailure, fmt.Errorf("spe trace render: %s: %w", args[0], err), "give a file written by 'rampart spe trace -o'")
			}
			d := seqdiagram.Build(page.Events)
			var text string
			switch format {
			case "svg":
				text = d.SVG()
			case "mermaid":
				text = d.Mermaid()
			case "plantuml":
				text = d.PlantUML()
			default:
				return usageError("--format %q: want svg, mermaid or plantuml", format)
			}
			if out == "" {
				_, err := fmt.Fprint(env.Stdout, text)
				return err
			}
			if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
				return fail(ExitError, err, "")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "svg", "svg, mermaid or plantuml")
	cmd.Flags().StringVarP(&out, "out", "o", "", "write the diagram to this file (default: standard output)")
	return cmd
}
