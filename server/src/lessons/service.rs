//! Lesson views for one user, quiz grading and progress.

use drydock_app::api_lessons::{
    AnswerResult, CatalogView, LessonLink, LessonSummary, LessonView, ProgressView, QuestionView,
    SearchResult, TocItem, TrackProgress, TrackView,
};

use crate::{
    content::{
        model::{Lesson, QuizKind},
        Catalog,
    },
    db::{progress, users::User, Db},
    error::{Error, Result},
};

/// Tracks and lessons, with what `user` completed.
pub async fn catalog(catalog: &Catalog, db: &Db, user: Option<&User>) -> Result<CatalogView> {
    let done = match user {
        Some(u) => progress::completed(db, u.id).await?,
        None => Default::default(),
    };
    let tracks = catalog
        .tracks
        .iter()
        .map(|t| TrackView {
            id: t.def.id.clone(),
            title: t.def.title.clone(),
            summary: t.def.summary.clone(),
            lessons: t
                .lessons
                .iter()
                .map(|&i| {
                    let l = &catalog.lessons[i];
                    LessonSummary {
                        track: l.track.clone(),
                        slug: l.slug.clone(),
                        title: l.meta.title.clone(),
                        summary: l.meta.summary.clone(),
                        minutes: l.meta.minutes,
                        completed: done.contains(&l.key()),
                        lab: l.meta.lab.as_ref().map(|id| {
                            (
                                id.clone(),
                                catalog.labs.get(id).is_some_and(|lab| lab.def.docker),
                            )
                        }),
                    }
                })
                .collect(),
        })
        .collect();
    Ok(CatalogView { tracks })
}

fn link(l: &Lesson) -> LessonLink {
    LessonLink {
        track: l.track.clone(),
        slug: l.slug.clone(),
        title: l.meta.title.clone(),
    }
}

fn verdict(lesson: &Lesson, question: &str, chosen: Vec<usize>) -> Result<AnswerResult> {
    let q = lesson
        .quiz
        .iter()
        .find(|q| q.id == question)
        .ok_or_else(|| Error::NotFound(format!("This lesson has no question {question:?}.")))?;
    let mut chosen = chosen;
    chosen.sort_unstable();
    chosen.dedup();
    if chosen.is_empty() {
        return Err(Error::BadRequest("Pick an answer first.".into()));
    }
    if let Some(bad) = chosen.iter().find(|&&c| c >= q.choices.len()) {
        return Err(Error::BadRequest(format!(
            "Choice {bad} does not exist: this question has {} choices.",
            q.choices.len()
        )));
    }
    if q.kind == QuizKind::Single && chosen.len() > 1 {
        return Err(Error::BadRequest(
            "This question takes exactly one answer.".into(),
        ));
    }
    let correct_choices = q.correct_choices();
    Ok(AnswerResult {
        correct: chosen == correct_choices,
        chosen,
        correct_choices,
        explanation: q.explanation.clone(),
    })
}

/// One lesson page for `user`: answers appear only for questions already answered.
pub async fn lesson(
    catalog: &Catalog,
    db: &Db,
    user: Option<&User>,
    track: &str,
    slug: &str,
) -> Result<Option<LessonView>> {
    let Some(l) = catalog.lesson(track, slug) else {
        return Ok(None);
    };
    let (answers, completed) = match user {
        Some(u) => (
            progress::answers(db, u.id, &l.key()).await?,
            progress::completed(db, u.id).await?.contains(&l.key()),
        ),
        None => Default::default(),
    };
    let quiz = l
        .quiz
        .iter()
        .map(|q| QuestionView {
            id: q.id.clone(),
            kind: match q.kind {
                QuizKind::Single => "single".into(),
                QuizKind::Multiple => "multiple".into(),
            },
            prompt: q.prompt.clone(),
            choices: q.choices.iter().map(|c| c.text.clone()).collect(),
            answered: answers
                .get(&q.id)
                .and_then(|a| verdict(l, &q.id, a.choices.clone()).ok()),
        })
        .collect();
    let (prev, next) = catalog.neighbours(l);
    let track_title = catalog
        .tracks
        .iter()
        .find(|t| t.def.id == l.track)
        .map(|t| t.def.title.clone())
        .unwrap_or_default();
    Ok(Some(LessonView {
        track: l.track.clone(),
        track_title,
        slug: l.slug.clone(),
        title: l.meta.title.clone(),
        summary: l.meta.summary.clone(),
        minutes: l.meta.minutes,
        objectives: l.meta.objectives.clone(),
        html: l.html.clone(),
        toc: l
            .toc
            .iter()
            .map(|t| TocItem {
                level: t.level,
                id: t.id.clone(),
                text: t.text.clone(),
            })
            .collect(),
        quiz,
        prev: prev.map(link),
        next: next.map(link),
        completed,
        lab: l.meta.lab.clone(),
        exercises: l
            .meta
            .exercises
            .iter()
            .filter_map(|id| catalog.exercises.get(id))
            .map(|e| (e.id.clone(), e.def.title.clone(), e.def.summary.clone()))
            .collect(),
    }))
}

fn find<'a>(catalog: &'a Catalog, track: &str, slug: &str) -> Result<&'a Lesson> {
    catalog
        .lesson(track, slug)
        .ok_or_else(|| Error::NotFound(format!("There is no lesson {track}/{slug}.")))
}

/// Grades an answer and stores it.
pub async fn answer(
    catalog: &Catalog,
    db: &Db,
    user: &User,
    track: &str,
    slug: &str,
    question: &str,
    chosen: Vec<usize>,
) -> Result<AnswerResult> {
    let lesson = find(catalog, track, slug)?;
    let result = verdict(lesson, question, chosen)?;
    progress::record_answer(
        db,
        user.id,
        &lesson.key(),
        question,
        &result.chosen,
        result.correct,
    )
    .await?;
    Ok(result)
}

/// Marks a lesson complete or not.
pub async fn set_complete(
    catalog: &Catalog,
    db: &Db,
    user: &User,
    track: &str,
    slug: &str,
    complete: bool,
) -> Result<bool> {
    let lesson = find(catalog, track, slug)?;
    progress::set_complete(db, user.id, &lesson.key(), complete).await?;
    Ok(complete)
}

/// Search results for `query` (at most 30, empty for an empty query).
pub fn search(catalog: &Catalog, query: &str) -> Vec<SearchResult> {
    catalog.search(query.get(..query.len().min(200)).unwrap_or(query), 30)
}

/// Per-track completion and quiz totals for `user`.
pub async fn progress_of(catalog: &Catalog, db: &Db, user: Option<&User>) -> Result<ProgressView> {
    let (done, (right, answered)) = match user {
        Some(u) => (
            progress::completed(db, u.id).await?,
            progress::correct_answers(db, u.id).await?,
        ),
        None => (Default::default(), (0, 0)),
    };
    let tracks = catalog
        .tracks
        .iter()
        .map(|t| TrackProgress {
            id: t.def.id.clone(),
            title: t.def.title.clone(),
            done: t
                .lessons
                .iter()
                .filter(|&&i| done.contains(&catalog.lessons[i].key()))
                .count(),
            total: t.lessons.len(),
        })
        .collect();
    Ok(ProgressView {
        tracks,
        quiz_correct: right,
        quiz_answered: answered,
    })
}
