# Keeps each option's last value, in first-seen order, and drops the
# options named in the tree's file "drops", as olddefconfig drops options
# whose dependencies are unmet.
BEGIN { while ((getline l < "drops") > 0) drop[l] = 1 }
/^CONFIG_[A-Za-z0-9_]+=/ { k = substr($0, 1, index($0, "=") - 1) }
/^# CONFIG_[A-Za-z0-9_]+ is not set$/ { k = $2 }
k == "" { next }
{ if (!(k in val)) order[++n] = k; val[k] = $0; k = "" }
END { for (i = 1; i <= n; i++) if (!(order[i] in drop)) print val[order[i]] }
