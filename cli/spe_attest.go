package cli

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe/lifecycle"
)

func init() {
	speSubcommands = append(speSubcommands, newSpeAttestCmd, newSpeLifecycleCmd)
}

// speTransport reaches an SPE: over its socket, or in this process from a
// state directory (and device) when --state-dir is given.
func speTransport(env *Env, sock, stateDir, deviceDir string, client int32) (ipc.Transport, func(), error) {
	if stateDir == "" {
		sock = speSocket(env, sock)
		c, err := ipc.Dial(sock)
		if err != nil {
			return nil, nil, speDialErr(err, sock)
		}
		return c, func() {}, nil
	}
	// In this process the state directory's root comes from $RAMPART_SPE_ROT.
	tpm, err := speOpenRoT(env, "")
	if err != nil {
		return nil, nil, err
	}
	p, done, err := speOpenPlatform(stateDir, deviceDir, tpm)
	if err != nil {
		if tpm != nil {
			tpm.Close()
		}
		return nil, nil, err
	}
	if tpm != nil {
		platformDone := done
		done = func() { platformDone(); tpm.Close() }
	}
	l, err := p.Server.Local(client)
	if err != nil {
		done()
		return nil, nil, usageError("%v", err)
	}
	return l, done, nil
}

func newSpeAttestCmd(env *Env) *cobra.Command {
	var sock, stateDir, deviceDir, nonceHex, profile, out string
	var client int32
	cmd := &cobra.Command{
		Use:   "attest --nonce HEX [--socket SOCK | --state-dir DIR [--device DIR]] [-o TOKEN]",
		Short: "Get an initial attestation token from the SPE over a verifier's nonce",
		Long: `Ask the SPE's Initial Attestation service for a token (psa_initial_attest_get_token) over
a 32, 48 or 64-byte nonce, in the RFC 9783 profile or, with --profile iot1, PSA_IOT_PROFILE_1.
The token carries the caller's client ID as the kernel reported it, so over the socket the
SPE decides it; with --state-dir the SPE runs in this process (booting --device, whose boot
records become the software components) and --client-id sets it.

The token is written to -o (raw CBOR) or printed as hex. Verify it with
'rampart attest verify --endorsements ENDORSEMENT.json --nonce HEX TOKEN'.`,
		Example: `  rampart spe attest --nonce $(openssl rand -hex 32) -o token.cbor
  rampart spe attest --state-dir state --device dev --nonce $NONCE --profile iot1 -o token.cbor`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			nonce, err := hex.DecodeString(nonceHex)
			if err != nil || (len(nonce) != 32 && len(nonce) != 48 && len(nonce) != 64) {
				return usageError("--nonce must be 32, 48 or 64 bytes of hex")
			}
			var p psa.AttestProfile
			switch profile {
			case "", "rfc9783":
				p = psa.AttestProfileRFC9783
			case "iot1":
				p = psa.AttestProfileIoT1
			default:
				return usageError("--profile is rfc9783 or iot1")
			}
			t, done, err := speTransport(env, sock, stateDir, deviceDir, client)
			if err != nil {
				return err
			}
			defer done()
			c := psaclient.NewAttestation(t)
			defer c.Close()
			tok, err := c.TokenProfile(nonce, p)
			if err != nil {
				var st ipc.Status
				if errors.As(err, &st) && (st == ipc.ErrBadState || st == ipc.ErrServiceFailure) {
					return fail(ExitFailure, err, "the SPE's log says why: without --device it has no boot measurements; otherwise is the device provisioned (rampart spe provision) and in the secured or a debug state?")
				}
				return speDialErr(err, sock)
			}
			if out != "" {
				if err := os.WriteFile(out, tok, 0o644); err != nil {
					return fail(ExitError, err, "")
				}
				return nil
			}
			fmt.Fprintln(env.Stdout, hex.EncodeToString(tok))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&sock, "socket", "", "SPE socket (default $RAMPART_SPE_SOCKET or "+speDefaultSocket+")")
	f.StringVar(&stateDir, "state-dir", "", "run the SPE in this process from this state directory")
	f.StringVar(&deviceDir, "device", "", "with --state-dir: the bootloader device to boot")
	f.Int32Var(&client, "client-id", -1, "with --state-dir: the caller's client ID")
	f.StringVar(&nonceHex, "nonce", "", "the verifier's nonce (hex: 32, 48 or 64 bytes)")
	f.StringVar(&profile, "profile", "rfc9783", "token profile: rfc9783 or iot1")
	f.StringVarP(&out, "out", "o", "", "write the token (CBOR) to this file instead of printing hex")
	return cmd
}

func newSpeLifecycleCmd(env *Env) *cobra.Command {
	var sock, stateDir, set string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "lifecycle [--set STATE] [--socket SOCK | --state-dir DIR]",
		Short: "Show or change the device's PSA security lifecycle state",
		Long: `Print the PSA security lifecycle state, or move it with --set to one of
assembly-and-test, psa-rot-provisioning, secured, non-psa-rot-debug,
recoverable-psa-rot-debug, decommissioned. Only the transitions of the PSA Security Model are
allowed; decommissioned destroys the hardware unique key, every key, ITS and PS, and is final.
Over the socket only the clients the SPE names as lifecycle admins may change the state.

Exit codes: 0 done, 1 transition refused, 2 usage, 3 I/O.`,
		Example: `  rampart spe lifecycle --state-dir /var/lib/rampart/spe
  rampart spe lifecycle --state-dir state --set decommissioned`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var to lifecycle.State
			if set != "" {
				var err error
				if to, err = lifecycle.ParseState(set); err != nil {
					return usageError("%v", err)
				}
			}
			t, done, err := speTransport(env, sock, stateDir, "", 1)
			if err != nil {
				return err
			}
			defer done()
			c := psaclient.NewLifecycle(t)
			defer c.Close()
			if set != "" {
				if err := c.Set(uint16(to)); err != nil {
					if errors.Is(err, ipc.ErrNotPermitted) {
						return fail(ExitFailure, err, "the PSA lifecycle does not allow this transition from the current state, or this client may not change it")
					}
					return speDialErr(err, sock)
				}
			}
			s, err := c.Get()
			if err != nil {
				return speDialErr(err, sock)
			}
			st := lifecycle.State(s)
			if asJSON {
				return json.NewEncoder(env.Stdout).Encode(map[string]any{"lifecycle": st.String(), "value": fmt.Sprintf("0x%04x", s)})
			}
			fmt.Fprintf(env.Stdout, "%s (0x%04x)\n", st, s)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&sock, "socket", "", "SPE socket (default $RAMPART_SPE_SOCKET or "+speDefaultSocket+")")
	f.StringVar(&stateDir, "state-dir", "", "run the SPE in this process from this state directory (as a secure caller)")
	f.StringVar(&set, "set", "", "move to this state")
	f.BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
