package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFileErrorStyle: a typo in any configuration or data file Rampart
// reads is reported as file:line:column: field: unknown field "x" (known
// fields: ...), the style threat check set, and exits 1.
func TestFileErrorStyle(t *testing.T) {
	dir := t.TempDir()
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		mustWrite(t, p, []byte(text))
		return p
	}
	key := "../image/testdata/mcuboot/ed25519.pem"
	cases := []struct {
		kind string
		args []string
		want string // the located message, after "rampart: "
	}{
		{"flash map (YAML)", []string{"boot", "create", "--key", key, filepath.Join(dir, "dev1"), "--map",
			write("map.yaml", strings.Replace(bootTestMap, "strategy:", "stratgy:", 1))},
			`map.yaml:5:1: stratgy: unknown field "stratgy" (known fields: bootloader, downgrade_prevention, encrypted_images, encrypted_key_bits, flash, images, max_align, max_sectors, ram, scratch, storage, strategy)`},
		{"flash map (JSON)", []string{"boot", "create", "--key", key, filepath.Join(dir, "dev2"), "--map",
			write("map.json", strings.Replace(read("../boot/testdata/one-image.json"), `"strategy"`, `"stratgy"`, 1))},
			`map.json:`},
		{"server configuration", []string{"server", "--check-config", "--offline", "--config",
			write("server.yaml", "data_dir: d\nlisten:\n  admn: 127.0.0.1:8444\n")},
			`server.yaml:3:3: listen.admn: unknown field "admn" (known fields: admin, enroll, mqtt)`},
		{"zone project", []string{"zone", "check",
			write("zone.yaml", strings.Replace(read("../examples/zone/an505-demo.yaml"), "unassigned:", "unasigned:", 1))},
			`zone.yaml:6:1: unasigned: unknown field "unasigned" (known fields: `},
		{"SPE configuration", []string{"spe", "serve", "--check-config", "--config",
			write("spe.json", "{\n  \"socket\": \"/tmp/x/spe.sock\",\n  \"state_dri\": \"/tmp/y\"\n}\n")},
			`spe.json:3:3: state_dri: unknown field "state_dri" (known fields: apps_dir, clients, isolation, limits, no_shared_memory, partition_uids, socket, socket_group, state_dir, trace_clients)`},
		{"campaign specification", []string{"campaign", "create", "--server", "127.0.0.1:1", "--spec",
			write("campaign.json", "{\n  \"id\": \"spring\",\n  \"relase\": \"5f1d\"\n}\n")},
			`campaign.json:3:3: relase: unknown field "relase" (known fields: `},
		{"threat model", []string{"threat", "check",
			write("model.yaml", strings.Replace(read("../examples/project/threat-model.yaml"), "assets:", "asets:", 1))},
			`model.yaml:`},
		{"certify project", []string{"certify", "--project",
			write("rampart.yaml", strings.Replace(read("../examples/project/rampart.yaml"), "name:", "nmae:", 1))},
			`rampart.yaml:`},
	}
	located := regexp.MustCompile(`[\w.-]+\.(yaml|json):\d+:\d+: [\w.\[\]]+: unknown field "\w+" \(known fields: [a-z_, ]+\)`)
	for _, c := range cases {
		code, out, errs := run(t, c.args...)
		all := errs + out
		if code != ExitFailure || !strings.Contains(all, c.want) || !located.MatchString(all) {
			t.Errorf("%s: exit %d, output:\n%s\nwant %q in file:line:column: field: message (known fields) form", c.kind, code, all, c.want)
		}
	}
}
