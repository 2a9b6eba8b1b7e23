//! The one shape every status, kind and level of the domain takes, so that each is declared with
//! its variants only.

/// A word of the domain's vocabulary (a status, a kind, a level): stored as text, parsed from and
/// written as its snake_case name (SQL, JSON, query strings), listed in order by `all()`. Doc
/// comments and attributes of the enum and its variants are passed through.
macro_rules! vocabulary {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            sqlx::Type,
            serde::Serialize,
            serde::Deserialize,
            strum::IntoStaticStr,
            strum::EnumString,
            strum::Display,
            strum::EnumIter,
        )]
        #[sqlx(type_name = "text", rename_all = "snake_case")]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            /// Every value, in the order a list shows them.
            pub fn all() -> impl Iterator<Item = $name> {
                <Self as strum::IntoEnumIterator>::iter()
            }
        }
    };
}
