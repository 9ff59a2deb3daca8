package service_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/service"
	"github.com/loadlens/loadlens/store"
)

// tarEntry is one entry of a hand-made archive in k6's layout.
type tarEntry struct {
	name, data, link string
	kind             byte
}

func makeArchive(t *testing.T, entry string, env map[string]string, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	meta, err := json.Marshal(map[string]any{"type": "js", "filename": "file://" + entry, "env": env})
	require.NoError(t, err)
	entries = append([]tarEntry{{name: "metadata.json", data: string(meta)}}, entries...)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg, Linkname: e.link}
		if e.kind != 0 {
			h.Typeflag, h.Size = e.kind, 0
		}
		require.NoError(t, tw.WriteHeader(h))
		if h.Size > 0 {
			_, err := tw.Write([]byte(e.data))
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

// uploadArchive sends a multipart start with the spec and an archive part.
func (e *env) uploadArchive(key, spec string, archive []byte) response {
	e.t.Helper()
	return e.uploadParts(key, map[string][]byte{"spec": []byte(spec), "archive": archive})
}

// A tenant uploads what `loadlens archive` (or `k6 archive`) wrote: its
// files are the script's only file system, its remote modules answer
// offline, its env stands under the spec's, and a symlink inside reaches
// nothing of the host. The sandbox child gets all of it.
func TestArchiveUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withSandbox(512))
	main := `import http from "k6/http"
import { check } from "k6"
import { who } from "./lib/who.js"
import { one } from "https://jslib.example/one.js"
const target = open("./target.txt").trim()
let leaked = ""
try { leaked = open("./passwd") } catch (e) {}
if (leaked !== "" || who !== "lib" || one !== 1 || __ENV.FROM_ARCHIVE !== "yes" || __ENV.OVERRIDE !== "spec") {
  throw new Error("archive: " + [leaked.slice(0, 10), who, one, __ENV.FROM_ARCHIVE, __ENV.OVERRIDE].join(" "))
}
export const options = { vus: 1, iterations: 5 }
export default function () { check(http.get(target + "/api"), { "status is 200": (r) => r.status === 200 }) }`
	archive := makeArchive(t, "/home/me/t/main.js", map[string]string{"FROM_ARCHIVE": "yes", "OVERRIDE": "archive"},
		tarEntry{name: "data", data: main},
		tarEntry{name: "file/home/me/t/main.js", data: main},
		tarEntry{name: "file/home/me/t/lib/who.js", data: `export const who = "lib"`},
		tarEntry{name: "file/home/me/t/target.txt", data: e.target.URL},
		tarEntry{name: "file/home/me/t/passwd", link: "/etc/passwd", kind: tar.TypeSymlink},
		tarEntry{name: "https/jslib.example/one.js", data: `export const one = 1`})
	r := e.uploadArchive(e.keyA, `{"test_type": "custom", "env": {"OVERRIDE": "spec"}}`, archive)
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	var sr service.StartResponse
	r.json(t, &sr)
	final := e.waitFinal(e.keyA, sr.ID)
	require.Equal(t, store.Completed, final.State, "%+v", final)
	res := e.result(e.keyA, sr.ID).Result
	require.NotNil(t, res)
	require.Len(t, res.RootGroup.Checks, 1)
	assert.EqualValues(t, 5, res.RootGroup.Checks[0].Passes)
}

// An archive runs offline: a remote module it lacks is refused, not
// fetched; and what it holds is bounded as unpacked, so hard links to one
// large file cannot multiply it.
func TestArchiveUploadIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	lacking := makeArchive(t, "/t/main.js", nil,
		tarEntry{name: "file/t/main.js", data: `import x from "https://jslib.example/missing.js"` + "\nexport default function () {}"})
	r := e.uploadArchive(e.keyA, `{"test_type": "custom"}`, lacking)
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	assert.Contains(t, strings.Join(r.errors(t), "\n"), "https://jslib.example/missing.js is not in the archive")

	r = e.uploadArchive(e.keyA, `{"test_type": "custom", "script": "export default function () {}"}`, lacking)
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	assert.Equal(t, []string{"script: the archive holds the script; leave script out"}, r.errors(t))

	big := strings.Repeat("x", 1<<20)
	entries := []tarEntry{{name: "file/t/main.js", data: "export default function () {}"}, {name: "data", data: big}}
	for i := range 12 { // k6 links the entry script to "data"; any file may
		entries = append(entries, tarEntry{name: "file/t/link" + string(rune('a'+i)), link: "data", kind: tar.TypeLink})
	}
	r = e.uploadArchive(e.keyA, `{"test_type": "custom"}`, makeArchive(t, "/t/main.js", nil, entries...))
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	assert.Contains(t, r.errors(t)[0], "file: the files hold more than")

	r = e.uploadArchive(e.keyA, `{"test_type": "custom"}`, []byte("not a tar"))
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	assert.Contains(t, r.errors(t)[0], "archive: ")
}
