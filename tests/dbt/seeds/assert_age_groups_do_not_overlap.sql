{#
    Every age belongs to at most one reporting age group: returns each pair of groups in
    the age_groups seed whose ranges (both bounds inclusive, an empty max_age open) intersect.
#}
with

age_groups as (

    select
        age_group,
        min_age,
        max_age
    from {{ ref('age_groups') }}

),

overlapping_pairs as (

    select
        lower_group.age_group,
        upper_group.age_group as overlapping_age_group
    from age_groups as lower_group
    inner join age_groups as upper_group
        on
            lower_group.age_group < upper_group.age_group
            and lower_group.min_age <= coalesce(upper_group.max_age, lower_group.min_age)
            and upper_group.min_age <= coalesce(lower_group.max_age, upper_group.min_age)

)

select * from overlapping_pairs
