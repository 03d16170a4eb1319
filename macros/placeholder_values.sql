{#
    The placeholder strings the AiCore source writes instead of a value, per pin column
    (docs: `pin_placeholders`). Staging nulls them via clean_text(); kept in one place so the
    list is documented and unit-tested once.
#}
{% macro placeholder_values(column_name) -%}
    {%- set placeholders = {
        'title': ['No Title Data Available', 'Untitled', 'Loading...'],
        'description': [
            'No description available Story format',
            'No description available',
            'Untitled',
        ],
        'poster_name': ['User Info Error'],
        'follower_count': ['User Info Error'],
        'tag_list': ['N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e'],
        'image_src': ['Image src error.'],
    } -%}
    {{ return(placeholders.get(column_name, [])) }}
{%- endmacro %}
