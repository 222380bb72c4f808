//! The control store: pools, flavors and the catalog of where each queue lives.

use zaqar_actors::control::{Flavor, Pool, PoolDeletion};
use zaqar_actors::model::Metadata;

use crate::Fixture;

#[tokio::test]
async fn pools_flavors_and_placements() {
    let f = Fixture::new().await;
    let Some(control) = f.control.clone() else {
        eprintln!("not run: this backend holds no catalog");
        return;
    };
    let tag = &f.project;
    let pool = |name: &str, weight| Pool {
        name: format!("{tag}-{name}"),
        uri: format!("sqlite:///tmp/{tag}-{name}.db"),
        weight,
        flavor: None,
        options: Metadata::new(),
    };
    let (p1, p2) = (pool("p1", 1), pool("p2", 0));
    control.put_pool(&p1).await.unwrap();
    control.put_pool(&p2).await.unwrap();
    assert_eq!(control.get_pool(&p1.name).await.unwrap(), Some(p1.clone()));
    let mut changed = p2.clone();
    changed.weight = 5;
    changed.flavor = Some(format!("{tag}-f"));
    control.put_pool(&changed).await.unwrap();
    assert_eq!(
        control.get_pool(&p2.name).await.unwrap(),
        Some(changed.clone())
    );
    // Listing is by name after the marker; this test's pools sort together.
    let listed = control
        .list_pools(Some(&format!("{tag}-")), 100)
        .await
        .unwrap();
    let mine: Vec<&str> = listed
        .iter()
        .map(|p| p.name.as_str())
        .filter(|n| n.starts_with(tag.as_str()))
        .collect();
    assert_eq!(mine, [p1.name.as_str(), p2.name.as_str()]);

    let flavor = Flavor {
        name: format!("{tag}-f"),
        capabilities: Metadata::new(),
    };
    control.put_flavor(&flavor).await.unwrap();
    assert_eq!(
        control.get_flavor(&flavor.name).await.unwrap(),
        Some(flavor.clone())
    );
    assert!(control.delete_flavor(&flavor.name).await.unwrap());
    assert!(!control.delete_flavor(&flavor.name).await.unwrap());
    assert!(control.get_flavor(&flavor.name).await.unwrap().is_none());

    // A queue is placed once; its pool cannot go while it is there.
    let q = f.queue("placed");
    assert!(control.lookup(&q).await.unwrap().is_none());
    assert_eq!(control.place(&q, &p1.name).await.unwrap(), p1.name);
    assert_eq!(
        control.place(&q, &p2.name).await.unwrap(),
        p1.name,
        "the first placement stays"
    );
    assert_eq!(control.lookup(&q).await.unwrap(), Some(p1.name.clone()));
    assert_eq!(
        control.delete_pool(&p1.name).await.unwrap(),
        PoolDeletion::InUse(1)
    );
    control.unplace(&q).await.unwrap();
    assert!(control.lookup(&q).await.unwrap().is_none());
    assert_eq!(
        control.delete_pool(&p1.name).await.unwrap(),
        PoolDeletion::Deleted
    );
    assert_eq!(
        control.delete_pool(&p1.name).await.unwrap(),
        PoolDeletion::Missing
    );
    let r = control.place(&q, &p1.name).await;
    assert!(r.is_err(), "a deleted pool takes no queue: {r:?}");
    assert_eq!(
        control.delete_pool(&p2.name).await.unwrap(),
        PoolDeletion::Deleted
    );
}
