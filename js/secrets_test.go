package js_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/js"
)

func TestSecrets(t *testing.T) {
	t.Parallel()
	r := script(`
import secrets from 'k6/secrets';
import { check } from 'k6';
export const options = { iterations: 1, thresholds: { checks: ['rate==1'] } };
export default async function () {
  const token = await secrets.get('token');
  const other = await secrets.source('vault').get('key');
  let missing;
  try { await secrets.get('nope'); } catch (e) { missing = String(e); }
  console.log('token', token, 'and', other);
  check(null, {
    'default source': () => token === 's3cr3t-token',
    'named source': () => other === 'vault-key',
    'missing key': () => missing === 'no value',
  });
}
`)
	r.opts.Secrets = js.Secrets{Default: "main", Sources: map[string]js.SecretSource{
		"main": js.SecretMap{"token": "s3cr3t-token"}, "vault": js.SecretMap{"key": "vault-key"},
	}}
	o := r.exec(t)
	require.NoError(t, o.err)
	checks(t, o.res)
	assert.Len(t, o.logs.lines("token ***SECRET_REDACTED*** and ***SECRET_REDACTED***"), 1, o.logs.String())
	assert.NotContains(t, o.logs.String(), "s3cr3t")
}

func TestParseSecretSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "s.txt")
	require.NoError(t, os.WriteFile(file, []byte("# comment\na=1\nb=x=y\n"), 0o600))
	cases := []struct {
		spec, name string
		isDefault  bool
		want       js.SecretMap
		err        string
	}{
		{spec: "file=" + file, name: "default", want: js.SecretMap{"a": "1", "b": "x=y"}},
		{spec: "file=name=f,filename=" + file + ",default", name: "f", isDefault: true, want: js.SecretMap{"a": "1", "b": "x=y"}},
		{spec: "mock=k=v,k2=v2,name=m", name: "m", want: js.SecretMap{"k": "v", "k2": "v2"}},
		{spec: "file=name=f", err: "needs a filename"},
		{spec: "file=" + filepath.Join(dir, "none"), err: "no such file"},
		{spec: "vault=x", err: `no secret source of type "vault"`},
	}
	for _, c := range cases {
		name, src, isDefault, err := js.ParseSecretSource(c.spec, os.ReadFile)
		if c.err != "" {
			assert.ErrorContains(t, err, c.err, c.spec)
			continue
		}
		require.NoError(t, err, c.spec)
		assert.Equal(t, c.name, name, c.spec)
		assert.Equal(t, c.isDefault, isDefault, c.spec)
		assert.Equal(t, c.want, src, c.spec)
		_, err = src.Secret(t.Context(), "missing")
		assert.True(t, errors.Is(err, js.ErrNoSecret))
	}
}
