package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"slices"
	"strings"
	"testing/fstest"
	"time"

	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
)

// startRequest is what POST /load-test/start carries: the spec and, for a
// script, the files it may import and open().
type startRequest struct {
	spec  loadtest.TestSpec
	files fstest.MapFS // nil without uploads: the script sees no files
	// modules are an uploaded archive's remote modules: with an archive
	// (modules non-nil, maybe empty) the script runs offline, as the CLI
	// runs an archive, and nothing is fetched.
	modules js.ModuleMap
}

// readStart reads the body of POST /load-test/start: a JSON spec, or a
// multipart/form-data upload with the spec in a "spec" field and the
// script's files as "file" parts, each named by its relative path, or as
// an "archive" part (a tar from `loadlens archive` or `k6 archive`). The
// files become the only file system the script sees: paths are checked
// here (relative, no "..", no duplicates), and the total is bounded by
// MaxUploadBytes and MaxUploadFiles, unpacked archives included.
func (s *Server) readStart(w http.ResponseWriter, r *http.Request) (startRequest, error) {
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" {
		body, err := readBody(w, r, s.cfg.MaxBodyBytes)
		if err != nil {
			return startRequest{}, err
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return startRequest{}, invalid("body: required: a JSON test spec")
		}
		spec, err := loadtest.DecodeTestSpec(body)
		return startRequest{spec: spec}, err
	}
	mr := multipart.NewReader(http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadBytes), params["boundary"])
	req := startRequest{files: fstest.MapFS{}}
	var specBody []byte
	var problems []string
	var archive *js.Archive
	var unpacked int64 // bytes of the files as the script will see them
	addFile := func(name string, data []byte) error {
		if problem := uploadPathProblem(name); problem != "" {
			problems = append(problems, problem)
			return nil
		}
		if _, dup := req.files[name]; dup {
			problems = append(problems, fmt.Sprintf("file %q: uploaded twice", name))
			return nil
		}
		if len(req.files) == s.cfg.MaxUploadFiles {
			return invalid(fmt.Sprintf("file: more than %d files", s.cfg.MaxUploadFiles))
		}
		// An archive's hard links share their data: counted per file, a
		// small archive cannot become a large job for the sandbox.
		if unpacked += int64(len(data)); unpacked > s.cfg.MaxUploadBytes {
			return invalid(fmt.Sprintf("file: the files hold more than %d bytes", s.cfg.MaxUploadBytes))
		}
		req.files[name] = &fstest.MapFile{Data: data, Mode: 0o444, ModTime: time.Unix(0, 0)}
		return nil
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return startRequest{}, uploadError(err, s.cfg.MaxUploadBytes)
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return startRequest{}, uploadError(err, s.cfg.MaxUploadBytes)
		}
		switch part.FormName() {
		case "spec":
			if specBody != nil {
				problems = append(problems, "spec: give it once")
			}
			specBody = data
		case "file":
			if err := addFile(rawFileName(part), data); err != nil {
				return startRequest{}, err
			}
		case "archive":
			if archive != nil {
				problems = append(problems, "archive: give it once")
				continue
			}
			a, err := js.ReadArchive(bytes.NewReader(data))
			if err != nil {
				problems = append(problems, err.Error()) // "archive: …"
				continue
			}
			archive = &a
			files, _ := a.Source.FS.(fstest.MapFS)
			for _, name := range slices.Sorted(maps.Keys(files)) {
				if err := addFile(name, files[name].Data); err != nil {
					return startRequest{}, err
				}
			}
			req.modules = a.Remote
		default:
			problems = append(problems, fmt.Sprintf("%s: unknown form field; want spec, file and archive", part.FormName()))
		}
	}
	if specBody == nil {
		problems = append(problems, "spec: required: the JSON test spec as a form field")
	}
	if len(problems) > 0 {
		return startRequest{}, invalid(problems...)
	}
	if archive != nil {
		if specBody, err = archiveSpec(specBody, strings.TrimPrefix(archive.Source.Path, "/")); err != nil {
			return startRequest{}, err
		}
	}
	req.spec, err = loadtest.DecodeTestSpec(specBody)
	if err != nil {
		return startRequest{}, err
	}
	if archive != nil && len(archive.Metadata.Env) > 0 { // the spec's env wins, as -e over the archive's
		env := maps.Clone(archive.Metadata.Env)
		maps.Copy(env, req.spec.Env)
		req.spec.Env = env
	}
	if f := req.spec.ScriptFile; f != "" && req.files[f] == nil {
		return startRequest{}, invalid(fmt.Sprintf("script_file: %q is not among the uploaded files", f))
	}
	return req, nil
}

// archiveSpec gives a spec without a script_file the archive's entry
// script, before it is decoded and validated; the script itself comes
// only from the archive. A body that is not a JSON object is left for
// the decoder to report.
func archiveSpec(spec []byte, entry string) ([]byte, error) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(spec, &fields) != nil || fields == nil {
		return spec, nil
	}
	if fields["script"] != nil {
		return nil, invalid("script: the archive holds the script; leave script out")
	}
	if fields["script_file"] != nil {
		return spec, nil
	}
	fields["script_file"], _ = json.Marshal(entry)
	return json.Marshal(fields)
}

// rawFileName is a part's file name as sent: Part.FileName keeps only its
// last element, which would flatten "lib/util.js" and hide "../x.js".
func rawFileName(part *multipart.Part) string {
	_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
	if err != nil {
		return ""
	}
	return params["filename"]
}

// uploadPathProblem says what is wrong with an uploaded file's name, or "".
// Names are slash paths inside the upload: never absolute, never "..",
// never a Windows or NUL trick, so a script can reach nothing else.
func uploadPathProblem(name string) string {
	switch {
	case name == "":
		return "file: a part without a file name"
	case strings.ContainsAny(name, "\\\x00") || !fs.ValidPath(name) || name == "." || path.Clean(name) != name:
		return fmt.Sprintf("file %q: want a relative slash path without . or .. elements", name)
	}
	return ""
}

// uploadError turns a failed read of an upload into a 400.
func uploadError(err error, max int64) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return invalid(fmt.Sprintf("body: larger than %d bytes", max))
	}
	return invalid("body: " + err.Error())
}
