// Package js runs k6 scripts unchanged on loadlens's engine: the k6
// JavaScript API on grafana/sobek.
//
// A script is compiled once ([Load]); every VU gets its own runtime that
// runs the script's init code and shares the compiled code, the files
// open() read and the SharedArrays. [Plan] layers the script's
// `export const options` between a base and a top layer of k6 options
// (k6's precedence: config < script < CLI flags) and returns a
// loadtest.Plan that runs the script; [Program.HandleSummary] runs
// handleSummary(data) after the run.
//
// Modules: k6 (check, group, sleep, fail, randomSeed), k6/http, k6/metrics,
// k6/execution, k6/data (SharedArray), k6/encoding, k6/crypto, k6/timers,
// k6/html (parseHTML and Response.html() on goquery: Selection and
// Element with k6's method-style API), k6/experimental/fs (open, File's
// stat, read and seek) and k6/experimental/csv (parse, Parser, on
// encoding/csv), whose files come from the script's file system like
// open()'s, k6/secrets (get and source(name).get from [Options.Secrets],
// k6's --secret-source file and mock sources; every value a script got is
// replaced by ***SECRET_REDACTED*** in its logs);
// globals __ENV, __VU, __ITER, console, open, require,
// setTimeout/setInterval, TextEncoder/TextDecoder and crypto
// (getRandomValues, randomUUID and WebCrypto's subtle on the Go standard
// library: digest, importKey/exportKey in raw, jwk, pkcs8 and spki,
// generateKey, sign/verify with HMAC, ECDSA, RSASSA-PKCS1-v1_5 and RSA-PSS,
// encrypt/decrypt with AES-GCM, AES-CBC and AES-CTR, deriveBits with
// ECDH). Extensions are Go [Module] values passed in
// [Options.Modules] under "k6/x/NAME": nothing registers itself globally,
// a custom binary passes its own (examples/xk6-hello).
//
// Remote modules (import or require of an https URL, such as k6's jslib)
// are fetched at load time through [Options.Remote]; without it they are
// refused with [ErrModuleRefused]. [RemoteModules] fetches them with a
// timeout and a size cap, keeps them in an on-disk cache (used when a
// fetch fails, and only it in offline mode), and takes two hooks that
// confine it: AllowURL is asked about every URL and redirect, AllowIP
// about every address its dialer connects to, after DNS resolution, so a
// name that resolves to an internal address is refused even when it
// changes between the check and the dial (DNS rebinding). The agent
// passes AllowURL for the tenant's allowed hosts and AllowIP refusing
// loopback, private and link-local addresses, and keeps Client nil.
// Relative imports inside a remote module resolve against its URL. No
// copies of jslib files are built in: jslib is AGPL-licensed.
//
// [Program.WriteArchive] writes a tar of the script and everything it
// read at load (script files, open()ed files, remote modules) in k6's
// archive layout; [ReadArchive] reads one (k6's too) into a Source whose
// file system holds only the archive's files and a ModuleFetcher of its
// remote modules, so an archive runs offline, and the agent can take the
// same upload. [Program.Inspect] prints the options as `k6 inspect`.
//
// http.batch runs its requests in parallel as k6 does (options batch and
// batchPerHost, 20 and 6 by default; 0 means no limit), on HTTP clients
// of the VU's own that share its cookie jar; their samples are recorded
// when the whole batch has completed.
//
// http.asyncRequest returns its Promise at once and makes the request in
// the background, as k6 does, on another HTTP client of the VU's (one per
// request in flight, sharing its cookie jar); the VU's event loop resolves
// the Promise and records the request's samples on the VU's goroutine when
// it completes, so the requests of one VU run concurrently with each other
// and with its other JavaScript. An iteration ends only once its async
// requests are settled; when it ends otherwise, the requests still in
// flight are interrupted (the iteration is interrupted or throws).
//
// TypeScript files (.ts, .mts, .cts), the entry script or imported, have
// their types stripped on load by esbuild's Go API, as k6 does; errors
// name the TypeScript's lines and columns through an inline source map.
//
// Script files are ES modules when they have import or export statements
// and CommonJS otherwise, as in k6: a CommonJS file runs once per VU in
// strict mode as a function of (exports, require, module), may return at
// its top level, and when imported gives module.exports (or its own
// "default" property) as the default export and module.exports' keys as
// named exports. require() takes k6's modules, CommonJS files and ES
// modules (their namespace), relative to the file that calls it; a
// CommonJS entry script exports options and default through exports.
//
// Memory per VU: an entry ES module whose imports are all Go modules (k6's
// and extensions') runs as one function rather than through sobek's module
// evaluation, which keeps about 20 KB per VU (the Promise constructor, a
// promise per module, the module body's async state); its semantics stay a
// module's (strict mode, constant imports made first, exports read when
// read, lines and columns unchanged). Scripts it cannot reproduce exactly
// (top-level await, import.meta, import(), namespace imports, re-exports,
// imports of files, code on line 1) are evaluated as modules. __ENV reads
// the run's variables from one map all VUs share, under each VU's writes.
//
// WebSockets: k6/ws's ws.connect blocks the iteration until its socket
// closes, running the socket's handlers and timers on the VU's goroutine;
// k6/websockets (and k6/experimental/websockets) is the browser's
// WebSocket, whose events the VU's event loop runs while the script goes
// on. Both record k6's ws_* metrics, tagged url, status and subproto, and
// dial through the VU's HTTP client (DNS cache, IP allowlist, data_sent
// and data_received, TLS options).
//
// gRPC: k6/net/grpc's Client loads .proto files (compiled once per
// script by bufbuild/protocompile, read through the script's file system),
// protosets or the server's reflection (v1, else v1alpha), connects on the
// VU's network (plaintext or TLS with the run's TLS options), and makes
// unary calls (invoke, asyncInvoke) and streams (grpc.Stream, whose events
// run on the VU's event loop), recording grpc_req_duration,
// grpc_streams and grpc_streams_msgs_sent/received with k6's tags.
//
// Differences from k6: k6/browser and WebCrypto's
// crypto.subtle are not available; Response.submitForm() and clickLink()
// throw; WebSocket messages are never Blobs.
//
// Errors in the script wrap [ErrScript] and are *[ScriptError] values with
// the file, line and column; the CLI maps them to k6's exit code 107.
//
// js imports loadtest, loadtest/k6http, scenarios, metrics and internal
// packages, never the service, the store or AI packages.
//
//	plan, prog, warnings, err := js.Plan(ctx, js.Source{Path: "script.js"}, loadtest.K6Options{}, cliFlags, js.Options{Env: env, Logger: logger})
//	res, err := loadtest.Run(ctx, plan)
//	outputs, ok, err := prog.HandleSummary(ctx, loadtest.NewSummaryData(res, loadtest.SummaryEnv{}))
package js
