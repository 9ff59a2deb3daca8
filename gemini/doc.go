// Package gemini explains a load-test run with Google's Gemini, grounded in
// the run's own numbers: an evidence pack built in code → a structured
// JSON answer → a grounding check in code.
//
//   - [BuildEvidence] makes a compact, capped evidence pack from a
//     [loadtest.Result], its [anomaly.Report] and an optional baseline run:
//     the test's configuration (secrets redacted), whole-run numbers, the
//     engine's threshold verdicts, every finding with its ID, time buckets
//     of the key series around the most severe findings, per-endpoint
//     statistics, the generator's health, scenario progress, failed checks
//     and baseline deltas. Every item has a stable ID ("thr:…", "ep:…",
//     "gen:cpu", "ts:<finding>:<series>", the finding IDs). Never raw
//     samples; text from the target only when asked, truncated, redacted
//     and wrapped in random delimiters. A [Budget] caps it (≈ 4
//     characters per token), dropping the least valuable items first and
//     saying so.
//   - [Analyzer.Analyze] sends the pack with a versioned system instruction
//     ([PromptVersion]) and a response schema (summary, root-cause
//     hypotheses citing evidence IDs with a confidence, insights,
//     prioritised recommendations, risk, limitations, conclusive or not),
//     retries 408/429/5xx with the server's RetryInfo delay or a jittered
//     backoff, and returns an [anomaly.AIAnalysis] labelled with the model,
//     prompt version and token usage. It never fails: no key, a timeout,
//     exhausted retries, a blocked prompt, a truncated or malformed answer
//     all give "AI analysis unavailable: reason", and the run, its verdict
//     and its report are unaffected. Analyses are cached by a hash of model,
//     prompt version and evidence.
//   - [Ground] drops every claim citing an evidence ID that does not exist
//     or contradicting a threshold verdict, and flags numbers that match
//     none of the cited evidence within 5 % (unit-aware). Threshold pass and
//     fail always come from the engine, never from the model.
//
// The API key is a secret: it is never logged, never put in an analysis or
// error text, never serialised. This package never reads the environment:
// the CLI passes os.Getenv to [ConfigFromEnv]. Package geminitest is a fake
// Gemini server for tests (loopback only, the real REST wire format).
//
// It may import anomaly, loadtest, scenarios and metrics, and
// google.golang.org/genai; it knows nothing of the engine's internals or
// the HTTP service.
//
// Usage:
//
//	an, err := gemini.New(ctx, gemini.ConfigFromEnv(os.Getenv))
//	if err != nil { … } // a contradictory Config only
//	rep := anomaly.Analyze(res, history, anomaly.Options{})
//	ai := an.Analyze(ctx, res, rep, nil)
//	if !ai.Available {
//		fmt.Println(ai.Summary) // AI analysis unavailable: no API key
//	}
package gemini
