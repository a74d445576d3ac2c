fn main() {
    let args: Vec<String> = std::env::args().collect();
    let src = hvxform::compile::read_source(std::path::Path::new(&args[1])).unwrap();
    let r = hvxform::compile::FsResolver { embedded: &[] };
    let (p, d) = hvxform::compile::compile(src, &r);
    for x in &d.items { let (f,l,c) = x.location(); eprintln!("{f}:{l}:{c}: {:?} {} [{}] {:?}", x.severity, x.message, x.primary.text, x.help); }
    let p = p.unwrap();
    let text = std::fs::read_to_string(&args[2]).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let s = hvxform::session::MemoryStore::default();
    match hvxform::exec::run(&p, &doc, &[], &s, &Default::default()) {
        Ok(o) => { for d in o.documents { println!("{}", d.xml); } for u in o.unmapped { eprintln!("unmapped {u:?}"); } }
        Err(e) => eprintln!("ERR {e}"),
    }
}
