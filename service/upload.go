package service

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strings"
	"testing/fstest"
	"time"

	"github.com/loadlens/loadlens/loadtest"
)

// startRequest is what POST /load-test/start carries: the spec and, for a
// script, the files it may import and open().
type startRequest struct {
	spec  loadtest.TestSpec
	files fstest.MapFS // nil without uploads: the script sees no files
}

// readStart reads the body of POST /load-test/start: a JSON spec, or a
// multipart/form-data upload with the spec in a "spec" field and the
// script's files as "file" parts, each named by its relative path. The
// files become the only file system the script sees: paths are checked
// here (relative, no "..", no duplicates), and the total is bounded by
// MaxUploadBytes and MaxUploadFiles.
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
			name := rawFileName(part)
			if problem := uploadPathProblem(name); problem != "" {
				problems = append(problems, problem)
				continue
			}
			if _, dup := req.files[name]; dup {
				problems = append(problems, fmt.Sprintf("file %q: uploaded twice", name))
				continue
			}
			if len(req.files) == s.cfg.MaxUploadFiles {
				return startRequest{}, invalid(fmt.Sprintf("file: more than %d files", s.cfg.MaxUploadFiles))
			}
			req.files[name] = &fstest.MapFile{Data: data, Mode: 0o444, ModTime: time.Unix(0, 0)}
		default:
			problems = append(problems, fmt.Sprintf("%s: unknown form field; want spec and file", part.FormName()))
		}
	}
	if specBody == nil {
		problems = append(problems, "spec: required: the JSON test spec as a form field")
	}
	if len(problems) > 0 {
		return startRequest{}, invalid(problems...)
	}
	req.spec, err = loadtest.DecodeTestSpec(specBody)
	if err != nil {
		return startRequest{}, err
	}
	if f := req.spec.ScriptFile; f != "" && req.files[f] == nil {
		return startRequest{}, invalid(fmt.Sprintf("script_file: %q is not among the uploaded files", f))
	}
	return req, nil
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
