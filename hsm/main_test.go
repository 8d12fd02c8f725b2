package hsm_test

import (
	"os"
	"testing"

	"rampart/hsm/hsmtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	hsmtest.Cleanup()
	os.Exit(code)
}
