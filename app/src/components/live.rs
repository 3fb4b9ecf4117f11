//! Server-Sent Events in the browser: the server pushes, the page listens.
//! Nothing polls from the UI.

/// Listens to `url` for the named events while the component lives;
/// `on(kind, data)` receives each one. Does nothing on the server.
#[allow(unused_variables)]
pub fn listen(url: String, kinds: &'static [&'static str], on: impl Fn(&str, String) + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::prelude::on_cleanup;
        use leptos::wasm_bindgen::{closure::Closure, JsCast};
        use std::rc::Rc;

        let Ok(source) = web_sys::EventSource::new(&url) else {
            return;
        };
        let on = Rc::new(on);
        let mut keep = Vec::new();
        for kind in kinds {
            let on = on.clone();
            let name = *kind;
            let callback = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
                move |ev: web_sys::MessageEvent| {
                    if let Some(text) = ev.data().as_string() {
                        on(name, text);
                    }
                },
            );
            let _ =
                source.add_event_listener_with_callback(kind, callback.as_ref().unchecked_ref());
            keep.push(callback);
        }
        let source = send_wrapper::SendWrapper::new(source);
        let keep = send_wrapper::SendWrapper::new(keep);
        on_cleanup(move || {
            source.close();
            drop(keep);
        });
    }
}
