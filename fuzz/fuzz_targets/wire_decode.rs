//! Every decoder of kernel bytes with arbitrary input: the netlink
//! framing, the generic-netlink header, each IPVS reply decoder (on the
//! whole input and on the attributes of every data message in it), the
//! controller's family reply, the route-netlink decoders
//! (netlink-packet-route's parsers behind `route::decode_*`), the connection
//! table text of /proc/net/ip_vs_conn, and the printers on whatever
//! decoded.
#![no_main]

use ipvsadm_rs::ipvsadm::conn::list_connections;
use ipvsadm_rs::ipvsadm::options::ListOptions;
use ipvsadm_rs::ipvsadm::print::{list_table, print_daemons, print_timeouts, save_table};
use ipvsadm_rs::ipvsadm::resolve::NumericResolver;
use ipvsadm_rs::model::{Family, ServiceEntry};
use ipvsadm_rs::route;
use ipvsadm_rs::wire::ipvs;
use ipvsadm_rs::wire::netlink::{decode_family_id, messages, Body, GenlMsg};
use libfuzzer_sys::fuzz_target;

fn opts() -> [ListOptions; 3] {
    let plain = ListOptions {
        numeric: true,
        ..ListOptions::default()
    };
    [
        plain,
        ListOptions {
            stats: true,
            exact: true,
            ..plain
        },
        ListOptions {
            thresholds: true,
            persistent_conn: true,
            tun_info: true,
            ..plain
        },
    ]
}

/// Every IPVS decoder on one attribute stream; what decodes is printed.
fn ipvs_attrs(a: &[u8]) {
    let mut out = Vec::new();
    let _ = ipvs::decode_stats(a, true);
    let _ = ipvs::decode_stats(a, false);
    let _ = ipvs::decode_service_nest(a);
    let _ = ipvs::decode_dest_nest(a, Family::Inet);
    if let Ok(i) = ipvs::decode_info(a) {
        let _ = i.version_triple();
    }
    if let Ok(t) = ipvs::decode_timeouts(a) {
        let _ = print_timeouts(&mut out, &t);
    }
    if let Ok(d) = ipvs::decode_daemon(a) {
        let _ = print_daemons(&mut out, &[d]);
    }
    let _ = decode_family_id(a);
    // The listing decoders read replies without the enums' vectors; they
    // must give exactly what the enums give.
    if let Err(e) = ipvs::listing_paths_agree(a) {
        panic!("{e}");
    }
    if let Ok(service) = ipvs::decode_service(a) {
        let family = service.key.family();
        let dests: Vec<_> = [family, Family::Inet, Family::Inet6]
            .into_iter()
            .filter_map(|f| ipvs::decode_dest(a, f).ok())
            .collect();
        let entry = [ServiceEntry { service, dests }];
        for o in opts() {
            let _ = list_table(&mut out, None, &entry, &o, &NumericResolver);
        }
        let _ = save_table(&mut out, &entry, true, &NumericResolver);
    }
    // The attribute enums themselves, in both attribute spaces.
    for cmd in [ipvs::Cmd::NewService, ipvs::Cmd::SetInfo] {
        let _ = ipvs::decode_attrs(a, cmd);
    }
}

fn rtnl_payload(p: &[u8]) {
    let _ = route::decode_link(p);
    if let Ok(Some(addr)) = route::decode_addr(p) {
        let _ = addr.subnet_contains(&"10.0.0.1".parse().unwrap());
    }
    let _ = route::decode_route(p);
}

fuzz_target!(|data: &[u8]| {
    ipvs_attrs(data);
    rtnl_payload(data);
    for m in messages(data) {
        let Ok(m) = m else { break };
        if let Body::Data(p) = m.body {
            rtnl_payload(p);
            let _ = ipvs::IpvsMessage::decode(p);
            if let Ok(g) = GenlMsg::parse(p) {
                ipvs_attrs(g.attrs);
            }
        }
    }
    // The same bytes as /proc/net/ip_vs_conn.
    let mut out = Vec::new();
    for o in opts() {
        let o = ListOptions {
            connection: true,
            ..o
        };
        out.clear();
        let _ = list_connections(data, &mut out, &o, &NumericResolver);
    }
});
