//! The tenant admin edits a scheme's module catalogue, the texts the public awareness kit shows:
//! a module's title, theme, short text and resource links, a new module, or a module removed
//! when nothing uses it. Each form sends one module; the catalogue is then replaced as a whole by
//! the domain's one rule (`schemes::catalogue::replace`), as the API does.

use passerelle_core::schemes::{self, Module};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, handler};
use serde::{Deserialize, Serialize};

use super::french::FormRefusal;
use super::schemes::{SchemePageState, scheme_page};
use super::{PageResult, Portal, see_other};
use crate::access;
use crate::state::AppState;

/// One module as its form carries it: the links one per line.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub(super) struct ModuleForm {
    #[serde(default, skip_serializing)]
    csrf_token: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    family: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    resource_links: String,
}

impl ModuleForm {
    pub(super) fn of(module: &Module) -> Self {
        Self {
            csrf_token: String::new(),
            title: module.title.clone(),
            family: module.family.clone(),
            description: module.description.clone().unwrap_or_default(),
            resource_links: module.resource_links.join("\n"),
        }
    }

    fn to_module(&self, number: i32) -> Module {
        Module {
            number,
            title: self.title.clone(),
            family: self.family.clone(),
            resource_links: self
                .resource_links
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            description: Some(self.description.clone()),
        }
    }
}

/// A module form that was refused: which module (none for a new one), what was typed and why.
pub(super) struct ModuleEdit {
    pub number: Option<i32>,
    pub form: ModuleForm,
    pub errors: FormRefusal,
}

/// The catalogue's field names as the module form names them.
fn module_fields(mut errors: FormRefusal) -> FormRefusal {
    for field in ["title", "family", "description", "resource_links"] {
        if let Some(message) = errors.fields.remove(&format!("modules.{field}")) {
            errors.fields.insert(field.into(), message);
        }
    }
    errors
}

/// Replaces the catalogue with `alter` applied to it, then shows the scheme again: with a notice,
/// or with the refusal next to the module's form.
async fn apply(
    state: &AppState,
    portal: &Portal,
    scheme_id: uuid::Uuid,
    attempt: ModuleEdit,
    alter: impl FnOnce(&mut Vec<Module>),
) -> PageResult {
    let detail = schemes::get(&state.db, portal.tenant.id, scheme_id).await?;
    let mut modules = detail.modules;
    alter(&mut modules);
    match schemes::catalogue::replace(
        &state.db,
        portal.tenant.id,
        portal.actor(),
        scheme_id,
        modules,
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!(
            "{}/dispositifs/{scheme_id}?modules=1#modules",
            portal.path()
        ))),
        Err(e) => {
            let attempt = ModuleEdit {
                errors: module_fields(super::refusal_of(&e)?),
                ..attempt
            };
            scheme_page(
                state,
                portal,
                scheme_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                SchemePageState {
                    module_edit: Some(&attempt),
                    ..SchemePageState::default()
                },
            )
            .await
        }
    }
}

fn module_number(text: &str) -> PageResult<i32> {
    text.parse()
        .map_err(|_| passerelle_core::Error::NotFound("module").into())
}

#[handler]
pub(super) async fn change(
    Path((slug, id, number)): Path<(String, String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<ModuleForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::REPLACE_SCHEME_MODULES,
        &form.csrf_token,
    )
    .await?;
    let id = super::path_id(&id, "scheme")?;
    let number = module_number(&number)?;
    let module = form.to_module(number);
    let attempt = ModuleEdit {
        number: Some(number),
        form,
        errors: FormRefusal::default(),
    };
    apply(&state, &portal, id, attempt, |modules| {
        if let Some(m) = modules.iter_mut().find(|m| m.number == number) {
            *m = module;
        }
    })
    .await
}

#[handler]
pub(super) async fn add(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<ModuleForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::REPLACE_SCHEME_MODULES,
        &form.csrf_token,
    )
    .await?;
    let id = super::path_id(&id, "scheme")?;
    let attempt = ModuleEdit {
        number: None,
        form: form.clone(),
        errors: FormRefusal::default(),
    };
    apply(&state, &portal, id, attempt, |modules| {
        let number = modules.iter().map(|m| m.number).max().unwrap_or(0) + 1;
        modules.push(form.to_module(number));
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default)]
    csrf_token: String,
}

#[handler]
pub(super) async fn remove(
    Path((slug, id, number)): Path<(String, String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<RemoveForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::REPLACE_SCHEME_MODULES,
        &form.csrf_token,
    )
    .await?;
    let id = super::path_id(&id, "scheme")?;
    let number = module_number(&number)?;
    let detail = schemes::get(&state.db, portal.tenant.id, id).await?;
    let Some(module) = detail.modules.iter().find(|m| m.number == number) else {
        return Err(passerelle_core::Error::NotFound("module").into());
    };
    let attempt = ModuleEdit {
        number: Some(number),
        form: ModuleForm::of(module),
        errors: FormRefusal::default(),
    };
    apply(&state, &portal, id, attempt, |modules| {
        modules.retain(|m| m.number != number);
    })
    .await
}
