{#
    Turns an abbreviated follower count into an integer: plain digits as they are, a `k`/`K`
    suffix times 1,000 and an `M`/`m` suffix times 1,000,000, decimal prefixes included
    ('1.5k' -> 1500). Anything else (placeholders, garbage, negative numbers, null) becomes
    null, and so does a value that does not fit a bigint ('10000000000000M'): try_cast and
    try_multiply never wrap around or raise, with or without ANSI mode. Expects text passed
    through clean_text().
#}
{% macro parse_follower_count(column) -%}
    {{ return(adapter.dispatch('parse_follower_count', 'pinlake')(column)) }}
{%- endmacro %}

{% macro default__parse_follower_count(column) -%}
    case
        when {{ column }} rlike '^[0-9]+(\\.[0-9]+)?[kKmM]?$'
            then try_cast(
                try_multiply(
                    try_cast(regexp_extract({{ column }}, '^([0-9.]+)', 1) as decimal(38, 6)),
                    case upper(right({{ column }}, 1))
                        when 'K' then 1000
                        when 'M' then 1000000
                        else 1
                    end
                )
                as bigint
            )
    end
{%- endmacro %}
