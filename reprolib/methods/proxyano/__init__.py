"""ProxyAno (Zhou et al., TMI 2022): proxy-bridged image reconstruction network."""
