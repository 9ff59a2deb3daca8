package js_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/js"
)

// An archive holds the script, its imports, its open()ed files and its
// remote modules, and runs from them alone: no module server, no file
// system.
func TestArchiveRunsOffline(t *testing.T) {
	t.Parallel()
	srv := moduleServer(t, "/m.js", "exports.who = 'remote';")
	fsys := fstest.MapFS{
		"app/script.js": {Data: []byte(`
import { check } from 'k6';
import { who } from 'https://modules.example/m.js';
import { local } from './lib/local.js';
const data = open('./data.txt');
export const options = { iterations: 2, thresholds: { checks: ['rate==1'] } };
export default function () {
  check(null, { 'all inside': () => who === 'remote' && local === 'local' && data === 'payload' && __ENV.FROM === 'archive' });
}
`)},
		"app/lib/local.js": {Data: []byte("export const local = 'local';\n")},
		"app/data.txt":     {Data: []byte("payload")},
	}
	prog, err := js.Load(t.Context(), js.Source{Path: "app/script.js", FS: fsys}, js.Options{Remote: &js.RemoteModules{Client: srv.client}})
	require.NoError(t, err)
	var tarball bytes.Buffer
	require.NoError(t, prog.WriteArchive(&tarball, map[string]string{"FROM": "archive"}))
	srv.srv.Close()

	ar, err := js.ReadArchive(bytes.NewReader(tarball.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, "file:///app/script.js", ar.Metadata.Filename)
	assert.JSONEq(t, `{"iterations":2,"thresholds":{"checks":["rate==1"]}}`, string(ar.Metadata.Options))
	r := run{src: ar.Source}.env("FROM", ar.Metadata.Env["FROM"])
	r.opts.Remote = ar.Remote
	o := r.exec(t)
	require.NoError(t, o.err)
	assert.Equal(t, 0, o.exit)
	checks(t, o.res)
	assert.Equal(t, 2.0, metricValue(t, o.res, "checks", "passes"))
}

// k6's own archives (a hard link from the script's path to data, folder
// entries) run too: testdata/archive/k6-archive.tar is k6 v2.2.0's
// `k6 archive -e FROM=k6` of a script that imports and opens a file.
func TestReadK6Archive(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("testdata", "archive", "k6-archive.tar"))
	require.NoError(t, err)
	ar, err := js.ReadArchive(bytes.NewReader(b))
	require.NoError(t, err)
	o := run{src: ar.Source}.env("FROM", ar.Metadata.Env["FROM"]).exec(t)
	require.NoError(t, o.err)
	checks(t, o.res)
	assert.Equal(t, 2.0, metricValue(t, o.res, "checks", "passes"))
}

func TestReadArchiveRejects(t *testing.T) {
	t.Parallel()
	_, err := js.ReadArchive(bytes.NewReader([]byte("not a tar")))
	assert.Error(t, err)
	var empty bytes.Buffer
	_, err = js.ReadArchive(&empty)
	assert.ErrorContains(t, err, "no metadata.json")
}

// Inspect prints what k6 v2.2.0's inspect printed for the same script.
func TestInspectMatchesK6(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile(filepath.Join("testdata", "inspect", "k6-inspect.json"))
	require.NoError(t, err)
	prog, err := js.Load(t.Context(), js.Source{Path: filepath.Join("testdata", "inspect", "script.js")}, js.Options{})
	require.NoError(t, err)
	got, err := prog.Inspect()
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
}
