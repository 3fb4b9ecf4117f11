//! A grading report: the score, every check with its message, hint and
//! evidence, and the grader's notes.

use leptos::prelude::*;

use crate::api_exercises::GradeReport;

/// One report, failures first so the next fix is on top.
#[component]
pub fn CheckList(report: GradeReport, #[prop(optional)] attempt: Option<u32>) -> impl IntoView {
    let GradeReport {
        score,
        max,
        passed,
        mut checks,
        notes,
        duration_ms,
    } = report;
    checks.sort_by_key(|c| c.passed);
    let failed = checks.iter().filter(|c| !c.passed).count();
    let percent = (score * 100).checked_div(max).unwrap_or(0);
    view! {
        <section class="grade-report" data-score=score data-max=max data-passed=passed.to_string() aria-live="polite">
            <header class="grade-head">
                <p class="grade-score">
                    <strong>{format!("{score} / {max} points")}</strong>
                    {attempt.map(|a| view! { <span class="muted">{format!(" · attempt {a}")}</span> })}
                </p>
                <div class="score-bar" role="img" aria-label=format!("{percent} percent")>
                    <span style=format!("width: {percent}%")></span>
                </div>
                <p class=if passed { "verdict pass" } else { "verdict fail" }>
                    {if passed {
                        "Passed.".to_string()
                    } else {
                        format!("{failed} check(s) to fix. Each one says what to change.")
                    }}
                    <span class="muted">{format!(" Graded in {} s.", tenths(duration_ms))}</span>
                </p>
            </header>
            {(!notes.is_empty()).then(|| view! {
                <ul class="grade-notes">
                    {notes.into_iter().map(|n| view! { <li><pre>{n}</pre></li> }).collect_view()}
                </ul>
            })}
            <ol class="check-list">
                {checks.into_iter().map(|c| view! {
                    <li class="check" class:passed=c.passed data-check=c.id.clone() data-passed=c.passed.to_string()>
                        <p class="check-head">
                            <span class="check-mark" aria-hidden="true">{if c.passed { "✓" } else { "✗" }}</span>
                            <span class="check-title">{c.title.clone()}</span>
                            <code class="check-id">{c.id.clone()}</code>
                            <span class="check-points">{format!("{}/{}", c.points, c.max_points)}</span>
                        </p>
                        <p class="check-message">{c.message.clone()}</p>
                        {(!c.passed).then(|| view! { <p class="check-hint"><strong>"Hint: "</strong>{c.hint.clone()}</p> })}
                        {(!c.evidence.is_empty()).then(|| view! {
                            <details class="check-evidence">
                                <summary>"What the grader saw"</summary>
                                <pre>{c.evidence.clone()}</pre>
                            </details>
                        })}
                    </li>
                }).collect_view()}
            </ol>
        </section>
    }
}

/// `1.3` for 1,250 ms: seconds to one decimal, in integer arithmetic (no
/// float formatting code in the browser's download).
fn tenths(ms: u64) -> String {
    let t = ms.saturating_add(50) / 100;
    format!("{}.{}", t / 10, t % 10)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_round_to_a_tenth_of_a_second() {
        assert_eq!(super::tenths(0), "0.0");
        assert_eq!(super::tenths(1_249), "1.2");
        assert_eq!(super::tenths(1_250), "1.3");
        assert_eq!(super::tenths(61_000), "61.0");
    }
}
