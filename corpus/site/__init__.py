"""What a wiki's site knows: namespaces, title rules, link trails and the packaged site data of every Wikipedia."""
