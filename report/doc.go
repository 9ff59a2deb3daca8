// Package report renders a finished run for people and for tools: a
// versioned JSON document, one self-contained HTML page with charts that
// works offline, JUnit XML for CI systems, and the comparison of two runs.
//
// Everything here is plain data in, bytes out: the run's [loadtest.Result],
// the [anomaly.Report] of its analysis, an optional [anomaly.AIAnalysis]
// (the AI text arrives as data; this package never calls a model) and an
// optional [Comparison] with another run. Writers never print, read the
// environment or the clock; the same [Input] always gives the same bytes.
//
// It may import anomaly, loadtest, scenarios and metrics — not gemini.
//
// The HTML page embeds uPlot (MIT, vendored under assets/, see its README)
// and the chart data as a JSON blob in a <script type="application/json">
// element; all text that came from the target or the model is escaped.
//
// Usage:
//
//	rep := anomaly.Analyze(res, history, anomaly.Options{})
//	in := report.Input{Result: res, Analysis: rep}
//	if base, ok := report.Baseline(history, res); ok {
//		c := report.Compare(report.Run{Result: base}, report.Run{Result: res, Findings: rep.Findings}, report.CompareOptions{})
//		in.Comparison = &c
//	}
//	_ = report.WriteHTML(htmlFile, in)
//	_ = report.WriteJUnit(junitFile, in)
//	_ = report.WriteJSON(jsonFile, in)
package report
