//! What every list shares, across the whole route table: the same answer to the same paging
//! parameters, whichever resource it lists.

use crate::common::account;
use crate::fixture;
use crate::spec::operations;

/// `PageSize=` sent empty is refused by every list alike (400, 20001, naming `PageSize`); it
/// used to read as "not sent" wherever the paging parameters were not flattened into a
/// list's filters (Users, Roles, Services...), and as empty elsewhere.
#[tokio::test]
async fn every_list_refuses_an_empty_page_size() {
    let client = account().await;
    let resources = fixture::build(&client).await;
    let mut lists: Vec<String> = operations()
        .into_iter()
        .filter(|(method, _, op)| method == "GET" && op.starts_with("List"))
        .map(|(_, template, _)| {
            format!(
                "{}{}",
                resources.fill(&template),
                fixture::read_query(&template)
            )
        })
        .collect();
    assert_eq!(lists.len(), 22, "the spec's lists: {lists:?}");
    lists.extend([
        "/confab/Webhooks/Deliveries".into(),
        "/confab/Outbound".into(),
    ]);
    let mut failures = Vec::new();
    for list in &lists {
        client.get(list).await.assert_status(200);
        for empty in ["PageSize=", "Page=", "PageSize=&PageToken="] {
            let sep = if list.contains('?') { '&' } else { '?' };
            let res = client.get(&format!("{list}{sep}{empty}")).await;
            let named = res.body["message"]
                .as_str()
                .is_some_and(|m| m.contains(empty.split('=').next().unwrap()));
            if res.status != 400 || res.body["code"] != 20001 || !named {
                failures.push(format!("{list} {empty}: {} {}", res.status, res.body));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
