package spe

import (
	"encoding/json"
	"testing"
)

// FuzzParseConfig feeds hostile SPE configurations to the loader: no panic,
// and every client rule it accepts maps to a negative (non-secure) client ID.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"socket":"/run/rampart/spe.sock","state_dir":"/var/lib/rampart/spe","clients":[{"name":"app","uid":1000,"client_id":-1}]}`))
	f.Add([]byte(`{"socket":"s","state_dir":"d","clients":[{"name":"x","pid":1,"client_id":5}]}`))
	f.Add([]byte(`{"socket":"s","state_dir":"d","socket_group":"rampart-clients","clients":[{"uid":1001,"client_id":-1}],"limits":{"crypto":{"volatile_keys_per_client":8},"its":{"max_objects_per_client":10},"ps":{"max_object_size":512}}}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("fuzz.json", data)
		if err != nil {
			return
		}
		for _, c := range cfg.Clients {
			if c.ClientID >= 0 {
				t.Fatalf("accepted a non-secure client with client ID %d", c.ClientID)
			}
		}
	})
}

// FuzzParseManifest feeds hostile partition manifests to the loader.
func FuzzParseManifest(f *testing.F) {
	if b, err := json.Marshal(StatusManifest); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"name":"p","services":[{"name":"s","sid":1,"version":1,"version_policy":"STRICT"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err == nil && m == nil {
			t.Fatal("accepted a manifest without returning it")
		}
	})
}
