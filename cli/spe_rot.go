package cli

import (
	"strings"

	"github.com/spf13/pflag"

	"rampart/spe/rot"
)

// speRoTEnv gives --rot's default.
const speRoTEnv = "RAMPART_SPE_ROT"

// speRoTFlag adds --rot to a command that opens an SPE's state.
func speRoTFlag(fl *pflag.FlagSet, v *string) {
	fl.StringVar(v, "rot", "", "root of trust: file (keys sealed in the state directory, the default) or tpm:HOST:PORT, tpm:unix:PATH, tpm:/dev/tpmrm0 (keys in a TPM 2.0; docs/roots-of-trust.md) (default $"+speRoTEnv+")")
}

// speOpenRoT opens the TPM --rot names; nil for the file root.
func speOpenRoT(env *Env, spec string) (*rot.TPM, error) {
	if spec == "" {
		spec = env.Getenv(speRoTEnv)
	}
	switch {
	case spec == "" || spec == "file":
		return nil, nil
	case !strings.HasPrefix(spec, rot.Scheme):
		return nil, usageError("--rot %q: want file or tpm:HOST:PORT, tpm:unix:PATH, tpm:/dev/tpmrm0", spec)
	}
	t, err := rot.Open(spec)
	if err != nil {
		return nil, fail(ExitError, err, "is the TPM (or swtpm) running there, and may this user open it?")
	}
	return t, nil
}
