//! The service's settings and its start-up.

use anyhow::bail;
use cucumber::{given, then, when};

use crate::world::StockWorld;

#[given(regex = r#"^the service setting (\w+) is "([^"]*)"$"#)]
fn setting(world: &mut StockWorld, name: String, value: String) {
    world.settings.insert(name, Some(value));
}

#[given(regex = r"^the service setting (\w+) is not set$")]
fn setting_unset(world: &mut StockWorld, name: String) {
    world.settings.insert(name, None);
}

#[given("the service is running")]
#[when("the service starts")]
async fn running(world: &mut StockWorld) -> anyhow::Result<()> {
    world.start().await.map(|_| ())
}

#[then(regex = r"^the service refuses to start, naming (\w+)$")]
async fn refuses_to_start(world: &mut StockWorld, variable: String) -> anyhow::Result<()> {
    match world.start().await {
        Ok(addr) => bail!("the service started on {addr}"),
        Err(error) => {
            let message = format!("{error:#}");
            if !message.contains(&variable) {
                bail!("the start-up error does not name {variable}: {message}");
            }
            Ok(())
        }
    }
}

#[given("the service verifies tokens with the public key in PKCS#1 form")]
fn pkcs1_key(world: &mut StockWorld) -> anyhow::Result<()> {
    let file = world.scenario_file("identity-provider-pkcs1.pem");
    std::fs::write(&file, &crate::world::suite()?.keys.public_pkcs1_pem)?;
    world.settings.insert(
        "STOCK_JWT_PUBLIC_KEY_FILE".to_owned(),
        Some(file.display().to_string()),
    );
    Ok(())
}
