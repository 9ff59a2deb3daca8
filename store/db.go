package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"unicode/utf8"
)

// db is a connection pool that speaks the store's one SQL dialect to
// either backend: queries are written with ? placeholders, which
// PostgreSQL gets as $1, $2…; and strings that PostgreSQL's text refuses
// (NUL bytes, invalid UTF-8, which a hostile tenant can send) are stored
// with U+FFFD in their place, as SQLite would keep them readable.
type db struct {
	*sql.DB
	pg bool
}

func (d *db) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.DB.ExecContext(ctx, d.rebind(query), d.args(args)...)
}

func (d *db) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.DB.QueryContext(ctx, d.rebind(query), d.args(args)...)
}

func (d *db) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return d.DB.QueryRowContext(ctx, d.rebind(query), d.args(args)...)
}

func (d *db) BeginTx(ctx context.Context, opts *sql.TxOptions) (*txn, error) {
	tx, err := d.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &txn{Tx: tx, d: d}, nil
}

// txn is a transaction of a db, in the same dialect.
type txn struct {
	*sql.Tx
	d *db
}

func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, t.d.rebind(query), t.d.args(args)...)
}

func (t *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, t.d.rebind(query), t.d.args(args)...)
}

func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, t.d.rebind(query), t.d.args(args)...)
}

// rebind numbers a query's ? placeholders for PostgreSQL. The store's
// queries have no ? inside string literals.
func (d *db) rebind(query string) string {
	if !d.pg || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (d *db) args(args []any) []any {
	if !d.pg {
		return args
	}
	for i, a := range args {
		if s, ok := a.(string); ok && (strings.ContainsRune(s, 0) || !utf8.ValidString(s)) {
			args[i] = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
		}
	}
	return args
}
