module tether/pause

go 1.22
