package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"testing"
)

// TestDeriveSecret: the same CA and label give the same secret after a
// reopen; another label or another CA another one; it is not the key.
func TestDeriveSecret(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, []byte("pw"), Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.DeriveSecret("campaign download keys")
	if err != nil || len(a) != 32 {
		t.Fatalf("derive: %d bytes, %v", len(a), err)
	}
	c2, _ := Open(dir, []byte("pw"), Options{Rand: rand.Reader})
	again, _ := c2.DeriveSecret("campaign download keys")
	other, _ := c.DeriveSecret("something else")
	d, _ := Open(t.TempDir(), []byte("pw"), Options{Rand: rand.Reader})
	otherCA, _ := d.DeriveSecret("campaign download keys")
	if !bytes.Equal(a, again) || bytes.Equal(a, other) || bytes.Equal(a, otherCA) {
		t.Fatalf("same %x/%x, other label %x, other CA %x", a, again, other, otherCA)
	}
	if k, _ := c.key.(*ecdsa.PrivateKey).Bytes(); bytes.Contains(k, a) || bytes.Equal(k, a) {
		t.Fatal("the derived secret is the key")
	}
}
