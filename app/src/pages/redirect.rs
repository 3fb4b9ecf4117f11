use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

/// Sends the browser to `to` once `action` succeeds. A result left over
/// from an earlier visit is cleared first, so it cannot redirect this one.
pub fn redirect_on_success<S>(action: ServerAction<S>, to: &'static str)
where
    S: leptos::server_fn::ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    action.value().set(None);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if action.value().with(|v| matches!(v, Some(Ok(_)))) {
            navigate(to, Default::default());
        }
    });
}
