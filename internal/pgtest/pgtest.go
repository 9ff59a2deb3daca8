// Package pgtest starts a throwaway PostgreSQL cluster for tests: initdb
// into a temporary folder, postgres on a free loopback port, a fresh
// database per test, pg_ctl stop at the end. It finds the server under
// /usr/lib/postgresql/*/bin (Debian's postgresql package) or on PATH; as
// root it runs the server as the postgres user, which initdb requires.
//
// A test binary calls Stop from its TestMain after m.Run; tests call
// Database, which starts the cluster on first use and skips the test, with
// the reason, when no PostgreSQL is installed.
package pgtest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx"
)

// cluster is the test binary's one PostgreSQL server.
type cluster struct {
	bin  string // folder of initdb, pg_ctl, postgres
	dir  string // data folder, socket and log under it
	port int
	uid  *user.User // who runs the server; nil: this process's user
	url  string     // of the "postgres" database
	n    int        // databases made
}

var (
	mu       sync.Mutex
	shared   *cluster
	startErr error
	started  bool
)

// ErrNotInstalled: no PostgreSQL server binaries were found.
var ErrNotInstalled = errors.New("PostgreSQL is not installed (apt-get install postgresql)")

// Database returns the URL of a new, empty database on the shared cluster,
// starting the cluster on first use. It skips the test when PostgreSQL is
// not installed, and fails it when the cluster does not start.
func Database(tb testing.TB) string {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if !started {
		started = true
		shared, startErr = start()
	}
	if errors.Is(startErr, ErrNotInstalled) {
		tb.Skipf("PostgreSQL tests skipped: %v", startErr)
	}
	if startErr != nil {
		tb.Fatalf("starting PostgreSQL: %v", startErr)
	}
	shared.n++
	name := fmt.Sprintf("t%d_%d", os.Getpid(), shared.n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", shared.url)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("creating a test database: %v", err)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", shared.port, name)
}

// Stop stops the shared cluster, if it was started, and removes its files.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if shared == nil {
		return
	}
	_ = shared.command("pg_ctl", "stop", "-D", shared.data(), "-m", "immediate", "-w").Run()
	_ = os.RemoveAll(shared.dir)
	shared = nil
}

// binDir finds the newest PostgreSQL server's binaries.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrNotInstalled
}

func (c *cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	setUser(cmd, c.uid)
	return cmd
}

func start() (*cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "loadlens-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin, dir: dir}
	if os.Geteuid() == 0 { // initdb refuses root
		if c.uid, err = user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("running as root and no postgres user to run the server: %w", err)
		}
		if err := chown(dir, c.uid); err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	initdb := c.command("initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	initdb.Stdout, initdb.Stderr = &out, &out
	if err := initdb.Run(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w: %s", err, out.Bytes())
	}
	// A free port can be taken between here and the server's bind: try a
	// few.
	for attempt := 0; ; attempt++ {
		c.port, err = freePort()
		if err != nil {
			return nil, err
		}
		out.Reset()
		pgctl := c.command("pg_ctl", "start", "-w", "-t", "60", "-D", c.data(), "-l", filepath.Join(dir, "server.log"), "-o",
			fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
				c.port, dir))
		pgctl.Stdout, pgctl.Stderr = &out, &out
		if err = pgctl.Run(); err == nil {
			break
		}
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("pg_ctl start: %w: %s %s", err, out.Bytes(), log)
		}
	}
	c.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	return c, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
