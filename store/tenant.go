package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// Tenant is one customer of the agent: its runs, keys and limits are its
// own.
type Tenant struct {
	// ID is the name given to AddTenant; X-Tenant-ID names it.
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Limits  Limits    `json:"limits"`
}

// Limits bound what a tenant may run. A zero field means the agent's
// default for it.
type Limits struct {
	// MaxVUs bounds the VUs a test may use at its peak (maxVUs included).
	MaxVUs int64 `json:"max_vus,omitempty"`
	// MaxDuration bounds a test's length, gracefulStop included.
	MaxDuration time.Duration `json:"max_duration_ns,omitempty"`
	// MaxConcurrent bounds the tests running (or queued) at once.
	MaxConcurrent int `json:"max_concurrent,omitempty"`
	// AllowedHosts lists the target hosts tests may send load to: host
	// names, IP addresses or CIDR prefixes. Empty means the agent's
	// default (loopback only).
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
}

var tenantName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// keyPrefix starts every API key, so that a leaked key is recognisable.
const keyPrefix = "llk_"

// AddTenant creates a tenant named name and returns its first API key. The
// key is shown only here: the store keeps its SHA-256 hash. It fails with
// ErrExists when the tenant exists.
func (s *Store) AddTenant(ctx context.Context, name string) (key string, err error) {
	if !tenantName.MatchString(name) {
		return "", fmt.Errorf("tenant name: want 1-64 letters, digits, '.', '_' or '-' starting with a letter or digit, got %q", name)
	}
	err = s.tx(ctx, func(tx *txn) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM tenants WHERE id = ?", name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("tenant %q: %w", name, ErrExists)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO tenants (id, created_ns) VALUES (?, ?)", name, time.Now().UnixNano()); err != nil {
			return err
		}
		key, err = addKey(ctx, tx, name)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("store: add tenant: %w", err)
	}
	return key, nil
}

// AddKey issues another API key for tenant.
func (s *Store) AddKey(ctx context.Context, tenant string) (key string, err error) {
	err = s.tx(ctx, func(tx *txn) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		key, err = addKey(ctx, tx, tenant)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("store: add key: %w", err)
	}
	return key, nil
}

func tenantExists(ctx context.Context, tx *txn, tenant string) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM tenants WHERE id = ? AND removed_ns = 0", tenant).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("tenant %q: %w", tenant, ErrNotFound)
	}
	return nil
}

func addKey(ctx context.Context, tx *txn, tenant string) (string, error) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // never fails
	key := keyPrefix + base64.RawURLEncoding.EncodeToString(secret)
	h := sha256.Sum256([]byte(key))
	_, err := tx.ExecContext(ctx, "INSERT INTO api_keys (id, tenant, hash, created_ns) VALUES (?, ?, ?, ?)",
		KeyID(key), tenant, h[:], time.Now().UnixNano())
	return key, err
}

// KeyID returns the public identifier of an API key: "key-" and the first
// 12 hex digits of its SHA-256. Logs and the audit log name keys by it.
func KeyID(key string) string {
	h := sha256.Sum256([]byte(key))
	return fmt.Sprintf("key-%x", h[:6])
}

// RevokeKey revokes the key with the given KeyID. It fails with
// ErrNotFound when tenant has no such key.
func (s *Store) RevokeKey(ctx context.Context, tenant, keyID string) error {
	res, err := s.w.ExecContext(ctx, "UPDATE api_keys SET revoked_ns = ? WHERE tenant = ? AND id = ? AND revoked_ns = 0",
		time.Now().UnixNano(), tenant, keyID)
	if err != nil {
		return fmt.Errorf("store: revoke key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: key %q: %w", keyID, ErrNotFound)
	}
	return nil
}

// Authenticate returns the tenant an API key belongs to and the key's
// KeyID. It fails with ErrBadKey for an unknown or revoked key, and for
// the key of a removed tenant.
func (s *Store) Authenticate(ctx context.Context, key string) (Tenant, string, error) {
	if !strings.HasPrefix(key, keyPrefix) || len(key) > 128 {
		return Tenant{}, "", ErrBadKey
	}
	h := sha256.Sum256([]byte(key))
	var (
		stored  []byte
		tenant  string
		id      string
		revoked int64
	)
	err := s.r.QueryRowContext(ctx, "SELECT hash, tenant, id, revoked_ns FROM api_keys WHERE hash = ?", h[:]).
		Scan(&stored, &tenant, &id, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return Tenant{}, "", ErrBadKey
	}
	if err != nil {
		return Tenant{}, "", fmt.Errorf("store: authenticate: %w", err)
	}
	if subtle.ConstantTimeCompare(stored, h[:]) != 1 || revoked != 0 {
		return Tenant{}, "", ErrBadKey
	}
	t, err := s.Tenant(ctx, tenant)
	if errors.Is(err, ErrNotFound) {
		return Tenant{}, "", ErrBadKey
	}
	if err != nil {
		return Tenant{}, "", err
	}
	return t, id, nil
}

// Key is an API key as the store knows it: never the key itself.
type Key struct {
	ID      string    `json:"id"` // KeyID
	Created time.Time `json:"created"`
	Revoked time.Time `json:"revoked,omitzero"`
}

// Keys lists tenant's API keys, oldest first, revoked ones included.
func (s *Store) Keys(ctx context.Context, tenant string) ([]Key, error) {
	if _, err := s.Tenant(ctx, tenant); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, "SELECT id, created_ns, revoked_ns FROM api_keys WHERE tenant = ? ORDER BY created_ns, id", tenant)
	if err != nil {
		return nil, fmt.Errorf("store: keys: %w", err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		var k Key
		var created, revoked int64
		if err := rows.Scan(&k.ID, &created, &revoked); err != nil {
			return nil, fmt.Errorf("store: keys: %w", err)
		}
		k.Created, k.Revoked = fromNanos(created), fromNanos(revoked)
		out = append(out, k)
	}
	return out, rows.Err()
}

// RemoveTenant removes a tenant: its keys stop working at once (revoked)
// and its webhooks, schedules and budgets are deleted; its runs and audit log stay, and so its
// name stays taken. It fails with ErrNotFound for an unknown or removed
// tenant.
func (s *Store) RemoveTenant(ctx context.Context, tenant string) error {
	err := s.tx(ctx, func(tx *txn) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		now := time.Now().UnixNano()
		for _, q := range []string{
			"UPDATE tenants SET removed_ns = ? WHERE id = ?",
			"UPDATE api_keys SET revoked_ns = ? WHERE tenant = ? AND revoked_ns = 0",
		} {
			if _, err := tx.ExecContext(ctx, q, now, tenant); err != nil {
				return err
			}
		}
		for _, q := range []string{"DELETE FROM webhooks WHERE tenant = ?", "DELETE FROM schedules WHERE tenant = ?",
			"DELETE FROM budgets WHERE tenant = ?"} {
			if _, err := tx.ExecContext(ctx, q, tenant); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: remove tenant: %w", err)
	}
	return nil
}

// Tenant returns the tenant with the given ID, or ErrNotFound.
func (s *Store) Tenant(ctx context.Context, id string) (Tenant, error) {
	var (
		t       Tenant
		created int64
		maxDur  int64
		hosts   string
	)
	err := s.r.QueryRowContext(ctx, `SELECT id, created_ns, max_vus, max_duration_ns, max_concurrent, allowed_hosts
		FROM tenants WHERE id = ? AND removed_ns = 0`, id).Scan(&t.ID, &created, &t.Limits.MaxVUs, &maxDur, &t.Limits.MaxConcurrent, &hosts)
	if errors.Is(err, sql.ErrNoRows) {
		return Tenant{}, fmt.Errorf("store: tenant %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("store: tenant %q: %w", id, err)
	}
	t.Created = fromNanos(created)
	t.Limits.MaxDuration = time.Duration(maxDur)
	if err := json.Unmarshal([]byte(hosts), &t.Limits.AllowedHosts); err != nil {
		return Tenant{}, fmt.Errorf("store: tenant %q: allowed_hosts: %w", id, err)
	}
	if len(t.Limits.AllowedHosts) == 0 {
		t.Limits.AllowedHosts = nil
	}
	return t, nil
}

// Tenants lists every tenant, by ID.
func (s *Store) Tenants(ctx context.Context) ([]Tenant, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT id FROM tenants WHERE removed_ns = 0 ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("store: tenants: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("store: tenants: %w", err)
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("store: tenants: %w", err)
	}
	out := make([]Tenant, 0, len(ids))
	for _, id := range ids {
		t, err := s.Tenant(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// allowedHost is a host name of an allowlist, "*" or "*.domain".
var allowedHost = regexp.MustCompile(`^(\*|(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?)$`)

// ValidateLimits reports every problem of l at once: negative numbers, and
// allowed hosts that are neither a host name, an IP address nor a CIDR
// prefix.
func ValidateLimits(l Limits) error {
	var errs []error
	for i, h := range l.AllowedHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, err := netip.ParsePrefix(h); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil || allowedHost.MatchString(h) {
			continue
		}
		errs = append(errs, fmt.Errorf("allowed_hosts[%d]: %q is not a host name, IP address or CIDR prefix", i, l.AllowedHosts[i]))
	}
	if l.MaxVUs < 0 {
		errs = append(errs, fmt.Errorf("max_vus: must be >= 0, got %d", l.MaxVUs))
	}
	if l.MaxDuration < 0 {
		errs = append(errs, fmt.Errorf("max_duration: must be >= 0, got %s", l.MaxDuration))
	}
	if l.MaxConcurrent < 0 {
		errs = append(errs, fmt.Errorf("max_concurrent: must be >= 0, got %d", l.MaxConcurrent))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	return nil
}

// SetLimits replaces a tenant's limits; see [ValidateLimits].
func (s *Store) SetLimits(ctx context.Context, tenant string, l Limits) error {
	if err := ValidateLimits(l); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	hosts, err := json.Marshal(l.AllowedHosts)
	if err != nil {
		return fmt.Errorf("store: limits: %w", err)
	}
	if l.AllowedHosts == nil {
		hosts = []byte("[]")
	}
	res, err := s.w.ExecContext(ctx, `UPDATE tenants SET max_vus = ?, max_duration_ns = ?, max_concurrent = ?, allowed_hosts = ?
		WHERE id = ? AND removed_ns = 0`, l.MaxVUs, int64(l.MaxDuration), l.MaxConcurrent, string(hosts), tenant)
	if err != nil {
		return fmt.Errorf("store: limits: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: tenant %q: %w", tenant, ErrNotFound)
	}
	return nil
}
