use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;

use crate::{
    api::{error_text, list_accounts, Account, SetRole},
    components::{
        form_error::{failure, FormError},
        forms::field,
    },
};

const ROLES: [&str; 3] = ["learner", "instructor", "admin"];

/// Admins see every registered account and can change its role.
#[component]
pub fn AdminUsersPage() -> impl IntoView {
    let accounts = Resource::new(|| (), |_| list_accounts());
    view! {
        <Title text="Users · Drydock"/>
        <section class="card wide">
            <h1>"Users"</h1>
            <Transition fallback=|| view! { <p class="loading">"Loading users…"</p> }>
                {move || accounts.get().map(|result| match result {
                    Ok(list) if list.is_empty() => view! { <p class="empty-state">"No registered users yet."</p> }.into_any(),
                    Ok(list) => view! { <UserTable list/> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn UserTable(list: Vec<Account>) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="users">
                <thead><tr><th scope="col">"User"</th><th scope="col">"Role"</th></tr></thead>
                <tbody>
                    {list.into_iter().map(|account| {
                        let (name, key) = (account.username.clone(), account.username.clone());
                        view! {
                            <tr data-user=key>
                                <td>{name}</td>
                                <td><RoleForm account/></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// One account's role, saved on its own.
#[island]
fn RoleForm(account: Account) -> impl IntoView {
    let set_role = ServerAction::<SetRole>::new();
    let id = format!("role-{}", account.id);
    view! {
        <form method="post" action={<SetRole as ServerFn>::url()} class="inline-form"
            on:submit=move |ev| {
                ev.prevent_default();
                set_role.dispatch(SetRole { user_id: account.id, role: field(&ev, "role") });
            }>
            <input type="hidden" name="user_id" value=account.id.to_string()/>
            <label class="visually-hidden" for=id.clone()>{format!("Role of {}", account.username)}</label>
            <select name="role" id=id>
                {ROLES.iter().map(|r| view! {
                    <option value=*r selected=account.role == *r>{*r}</option>
                }).collect_view()}
            </select>
            <button type="submit" disabled=move || set_role.pending().get()>"Save"</button>
            <span class="form-ok small-text" role="status">
                {move || matches!(set_role.value().get(), Some(Ok(_))).then_some(" Saved.")}
            </span>
        </form>
        <FormError error=move || failure(set_role.value().get())/>
    }
}
