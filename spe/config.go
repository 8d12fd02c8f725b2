package spe

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"rampart/internal/yamlerr"
)

// topLevelValue returns the node of key's value in the JSON object data,
// for the position of an error; nil when it cannot be found.
func topLevelValue(data []byte, key string) *yaml.Node {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// Config is the `rampart spe serve` configuration file (JSON).
type Config struct {
	// Socket is the Unix socket path.
	Socket string `json:"socket"`
	// SocketGroup, when set, is the group (name or number) whose members
	// may connect: clients run under their own users, members of it, and
	// the socket is 0660 in a 0750 directory of that group
	// (Server.ListenGroup). Empty: only the SPE's own user (and root) can
	// connect (Server.Listen).
	SocketGroup string `json:"socket_group,omitempty"`
	// StateDir holds the hardware unique key and persistent keys (mode 0700).
	StateDir string `json:"state_dir"`
	// Clients maps kernel credentials to PSA client IDs; the first rule that
	// matches wins, and a peer no rule matches is refused.
	Clients []ClientRule `json:"clients"`
	// Limits are the services' per-client quotas; omitted fields take the
	// defaults.
	Limits Limits `json:"limits"`
	// Isolation is the isolation level (docs/spe-isolation.md): 1 (the
	// default) runs every partition in the SPE's process; 2 runs the PSA
	// root of trust's partitions in one process and the application
	// partitions in another, behind a partition manager that owns the
	// socket; 3 runs each application partition in a process of its own.
	Isolation int `json:"isolation,omitempty"`
	// PartitionUIDs maps partition processes ("prot", "app" at level 2,
	// "app:<partition name>" at level 3, and there each PRoT process:
	// "prot:crypto" and the others of level3PRoT, which default to "prot")
	// to the uid each runs as (its gid too): the SPE must start as root,
	// and gives each its own state.
	PartitionUIDs map[string]int `json:"partition_uids,omitempty"`
	// AppsDir holds the application partitions' own directories (default
	// state_dir/apps); with partition_uids it must be outside state_dir.
	AppsDir string `json:"apps_dir,omitempty"`
	// TraceClients may start, read and stop the partition manager's call
	// trace (`rampart spe trace`); empty: no trace service.
	TraceClients []int32 `json:"trace_clients,omitempty"`
	// NoSharedMemory refuses clients' shared-memory lanes and gives
	// partition processes none: every call takes a socket
	// (docs/spe-ipc.md section 1).
	NoSharedMemory bool `json:"no_shared_memory,omitempty"`
}

// Level returns the isolation level (1 when the field is left out).
func (c *Config) Level() int {
	if c.Isolation == 0 {
		return 1
	}
	return c.Isolation
}

// ClientRule maps a peer uid, pid, or both, to a non-secure client ID.
type ClientRule struct {
	Name     string `json:"name,omitempty"`
	UID      *int   `json:"uid,omitempty"`
	PID      *int   `json:"pid,omitempty"`
	ClientID int32  `json:"client_id"`
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid configuration")

// Validate checks c and names the field that is wrong.
func (c *Config) Validate() error {
	if c.Socket == "" {
		return fmt.Errorf("spe: config: socket: empty: %w", ErrConfig)
	}
	if c.StateDir == "" {
		return fmt.Errorf("spe: config: state_dir: empty: %w", ErrConfig)
	}
	if len(c.Clients) == 0 {
		return fmt.Errorf("spe: config: clients: no client rule, every peer would be refused: %w", ErrConfig)
	}
	if c.Isolation < 0 || c.Isolation > 3 {
		return fmt.Errorf("spe: config: isolation: %d, want 1, 2 or 3: %w", c.Isolation, ErrConfig)
	}
	if len(c.PartitionUIDs) > 0 && c.Level() == 1 {
		return fmt.Errorf("spe: config: partition_uids: needs isolation 2 or 3 (at level 1 every partition is the SPE's process): %w", ErrConfig)
	}
	for g, uid := range c.PartitionUIDs {
		if g != "prot" && g != "app" && !strings.HasPrefix(g, "app:") && !(c.Level() == 3 && level3PRoT[g]) {
			return fmt.Errorf("spe: config: partition_uids: %q is no partition process (prot, app, app:<partition name>; at level 3 also prot:rootkey, prot:crypto, ...): %w", g, ErrConfig)
		}
		if uid <= 0 {
			return fmt.Errorf("spe: config: partition_uids.%s: %d, want a uid other than root: %w", g, uid, ErrConfig)
		}
	}
	for i, id := range c.TraceClients {
		if id == 0 {
			return fmt.Errorf("spe: config: trace_clients[%d]: client ID 0 is not allowed: %w", i, ErrConfig)
		}
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	for i, r := range c.Clients {
		if r.UID == nil && r.PID == nil {
			return fmt.Errorf("spe: config: clients[%d]: neither uid nor pid given: %w", i, ErrConfig)
		}
		if r.ClientID >= 0 {
			return fmt.Errorf("spe: config: clients[%d].client_id: %d, non-secure client IDs are negative: %w", i, r.ClientID, ErrConfig)
		}
	}
	return nil
}

// SocketGID resolves SocketGroup: -1 when it is empty.
func (c *Config) SocketGID() (int, error) {
	if c.SocketGroup == "" {
		return -1, nil
	}
	if n, err := strconv.Atoi(c.SocketGroup); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("spe: config: socket_group: %d: %w", n, ErrConfig)
		}
		return n, nil
	}
	g, err := user.LookupGroup(c.SocketGroup)
	if err != nil {
		return 0, fmt.Errorf("spe: config: socket_group: %w", err)
	}
	return strconv.Atoi(g.Gid)
}

// SharedWith returns the client rules that defeat per-client isolation
// when clients run under their own users: a rule for uid, the SPE's own
// user, or for root. Both can read the state directory (the hardware unique
// key, every sealed key) without asking the SPE.
func (c *Config) SharedWith(uid int) []ClientRule {
	var out []ClientRule
	for _, r := range c.Clients {
		if r.UID != nil && (*r.UID == uid || *r.UID == 0) {
			out = append(out, r)
		}
	}
	return out
}

// Identify returns the client ID of the first rule matching uid and pid.
func (c *Config) Identify(uid, pid int) (int32, error) {
	for _, r := range c.Clients {
		if (r.UID == nil || *r.UID == uid) && (r.PID == nil || *r.PID == pid) {
			return r.ClientID, nil
		}
	}
	return 0, fmt.Errorf("spe: no client rule for uid %d pid %d", uid, pid)
}

// LoadConfig reads and validates a JSON configuration file. Syntax errors
// carry file:line.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("spe: config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig decodes and validates configuration bytes; name is used in
// error messages.
func ParseConfig(name string, data []byte) (*Config, error) {
	var c Config
	if err := yamlerr.DecodeJSON(name, data, &c); err != nil {
		return nil, yamlerr.Mark(err, ErrConfig)
	}
	if c.Isolation < 0 || c.Isolation > 3 {
		p := yamlerr.At(name, topLevelValue(data, "isolation"), "isolation", "%d, want 1, 2 or 3 (docs/spe-isolation.md)", c.Isolation)
		return nil, yamlerr.Mark(&yamlerr.Error{Problems: []yamlerr.Problem{p}}, ErrConfig)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &c, nil
}

// level3PRoT are the PSA root of trust's processes at isolation level 3
// (spe/platform's groups), which partition_uids may name one by one.
var level3PRoT = map[string]bool{
	"prot:rootkey": true, "prot:lifecycle": true, "prot:its": true, "prot:crypto": true,
	"prot:ps": true, "prot:audit": true, "prot:fwu": true, "prot:attestation": true,
}
